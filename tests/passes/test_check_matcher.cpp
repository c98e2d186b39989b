// The tiny FileCheck must fail when it should: each directive kind is tested passing and failing,
// so a pass test that "passes" means something.
#include "tests/passes/check_matcher.h"

#include <doctest/doctest.h>

using gptc::test::runChecks;

namespace {
const char* kOutput = "alpha one\nbeta two\ngamma three\nbeta four\n";
}

TEST_CASE("check matcher: CHECK finds lines in order") {
  CHECK(runChecks("# CHECK: alpha\n# CHECK: gamma\n", "t", kOutput) == "");
  std::string e = runChecks("# CHECK: gamma\n# CHECK: alpha\n", "t", kOutput);
  CHECK(e.find("t:2: CHECK: 'alpha' not found") != std::string::npos);
}

TEST_CASE("check matcher: CHECK-NEXT needs the very next line") {
  CHECK(runChecks("# CHECK: alpha\n# CHECK-NEXT: beta two\n", "t", kOutput) == "");
  std::string e = runChecks("# CHECK: alpha\n# CHECK-NEXT: gamma\n", "t", kOutput);
  CHECK(e.find("CHECK-NEXT: 'gamma' is not on the line after line 1") != std::string::npos);
  CHECK(runChecks("# CHECK-NEXT: alpha\n", "t", kOutput).find("no earlier match") !=
        std::string::npos);
}

TEST_CASE("check matcher: CHECK-NOT guards the range up to the next match") {
  CHECK(runChecks("# CHECK: alpha\n# CHECK-NOT: four\n# CHECK: gamma\n", "t", kOutput) == "");
  std::string e = runChecks("# CHECK: alpha\n# CHECK-NOT: two\n# CHECK: gamma\n", "t", kOutput);
  CHECK(e.find("CHECK-NOT: 'two' found on line 2") != std::string::npos);
  // A trailing CHECK-NOT guards to the end of the output.
  CHECK(runChecks("# CHECK: gamma\n# CHECK-NOT: four\n", "t", kOutput) != "");
  CHECK(runChecks("# CHECK: beta four\n# CHECK-NOT: alpha\n", "t", kOutput) == "");
}

TEST_CASE("check matcher: CHECK-COUNT-n is n successive matches") {
  CHECK(runChecks("# CHECK-COUNT-2: beta\n", "t", kOutput) == "");
  CHECK(runChecks("# CHECK-COUNT-3: beta\n", "t", kOutput) != "");
  CHECK(runChecks("# CHECK-COUNT-0: beta\n", "t", kOutput).find("bad count") != std::string::npos);
}

TEST_CASE("check matcher: {{regex}} islands, literal text elsewhere") {
  CHECK(runChecks("# CHECK: {{[a-z]+}} three\n", "t", kOutput) == "");
  CHECK(runChecks("# CHECK: al.ha\n", "t", kOutput) != ""); // '.' is literal outside {{ }}
  CHECK(runChecks("# CHECK: {{al.ha}}\n", "t", kOutput) == "");
}

TEST_CASE("check matcher: a file that checks nothing fails, and so do typos") {
  CHECK(runChecks("# nothing here\n", "t", kOutput).find("no CHECK directives") !=
        std::string::npos);
  CHECK(runChecks("# CHECK-NXT: alpha\n", "t", kOutput).find("unknown directive") !=
        std::string::npos);
  CHECK(runChecks("# CHECK:\n", "t", kOutput).find("empty pattern") != std::string::npos);
}
