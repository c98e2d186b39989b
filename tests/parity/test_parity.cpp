// PyTorch parity: the interpreter's logits and loss against the float64 PyTorch references in
// tests/fixtures/reference/ (written by tests/reference/make_fixtures.py) for all three models.
// Each fixture holds the parameters (param.<name>), the inputs (input.<name>) and the expected
// outputs (output.logits, output.loss); its json gives the model file and the --set constants.
// The bar is 1e-5 relative: max |ours - theirs| / max |theirs|; the measured figure is printed.
#include "ir/parser.h"
#include "runtime/interp/interpreter.h"
#include "tests/reference/fixture.h"

#include <algorithm>
#include <cmath>
#include <doctest/doctest.h>

using namespace gptc;

namespace {

Tensor toTensor(const FixtureTensor& ft) {
  Tensor t;
  t.type = TensorType{ft.dtype == FixtureTensor::kF32 ? DType::f32 : DType::i32, ft.shape};
  t.f = ft.f;
  t.i = ft.i;
  return t;
}

/// max |a - b| / max |b| (b the reference).
double relativeError(const std::vector<float>& a, const std::vector<float>& b) {
  double diff = 0, scale = 0;
  for (size_t k = 0; k < b.size(); ++k) {
    diff = std::max(diff, std::abs(double(a[k]) - double(b[k])));
    scale = std::max(scale, std::abs(double(b[k])));
  }
  return scale == 0 ? diff : diff / scale;
}

void checkParity(const std::string& stem) {
  std::string error;
  std::optional<Fixture> fx = loadFixture("tests/fixtures/reference/" + stem, &error);
  INFO(error);
  REQUIRE(fx);
  Expected<std::string> text = readTextFile(fx->model);
  REQUIRE(text);
  ConstOverrides set(fx->set.begin(), fx->set.end());
  Expected<Graph> g = parseGraph(*text, fx->model, set);
  INFO((g ? std::string() : g.error().render()));
  REQUIRE(g);

  Interpreter interp(*g);
  int bound = 0;
  for (const auto& [name, ft] : fx->tensors) {
    for (const char* prefix : {"param.", "input."})
      if (name.rfind(prefix, 0) == 0) {
        std::string err = interp.bind(name.substr(std::string(prefix).size()), toTensor(ft));
        INFO(name << ": " << err);
        CHECK(err.empty());
        ++bound;
      }
  }
  CHECK(bound > 0);
  std::string err = interp.run();
  INFO(err);
  REQUIRE(err.empty());

  const FixtureTensor *logits = fx->find("output.logits"), *loss = fx->find("output.loss");
  REQUIRE(logits);
  REQUIRE(loss);
  REQUIRE(interp.get("logits").type.shape == logits->shape);
  double logitsErr = relativeError(interp.get("logits").f, logits->f);
  double lossErr = relativeError(interp.get("loss").f, loss->f);
  MESSAGE(stem << ": logits max rel diff " << logitsErr << ", loss " << interp.get("loss").f[0]
               << " vs " << loss->f[0] << " (rel diff " << lossErr << ")");
  CHECK(logitsErr <= 1e-5);
  CHECK(lossErr <= 1e-5);
}

} // namespace

TEST_CASE("parity with PyTorch: gpt2") {
  checkParity("gpt2");
}
TEST_CASE("parity with PyTorch: chargpt") {
  checkParity("chargpt");
}
TEST_CASE("parity with PyTorch: seq2seq") {
  checkParity("seq2seq");
}
TEST_CASE("parity with PyTorch: llama") {
  checkParity("llama");
}
