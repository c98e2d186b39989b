// Hand-checked cases for embedding (and its gradient), sinusoidal positions and cross-entropy (and
// its gradient): ignore_index rows, classes < width, no counted rows, bad ids and targets as
// errors.
#include "interp_test_util.h"

#include <cmath>

using namespace gptc;
using namespace gptc::test;

TEST_CASE("embedding gathers rows; an id outside the table is an error naming it") {
  Tensor table = f32({3, 2}, {0, 1, 10, 11, 20, 21});
  Tensor ids = i32({2, 2}, {2, 0, 1, 1});
  Tensor y = eval(OpKind::Embedding, {&ids, &table});
  CHECK(y.type.shape == Shape{2, 2, 2});
  CHECK(y.f == std::vector<float>{20, 21, 0, 1, 10, 11, 10, 11});
  Tensor bad = i32({2}, {1, 3});
  CHECK(evalError(OpKind::Embedding, {&bad, &table}) ==
        "embedding: token id 3 outside the table of 3 rows");
  Tensor negative = i32({1}, {-1});
  CHECK(evalError(OpKind::Embedding, {&negative, &table}) ==
        "embedding: token id -1 outside the table of 3 rows");
}

TEST_CASE("embedding_grad scatter-adds rows") {
  // ids (1,1,0): row 1 gets (1,2)+(3,4) = (4,6), row 0 gets (5,6), row 2 nothing.
  Tensor ids = i32({3}, {1, 1, 0}), dy = f32({3, 2}, {1, 2, 3, 4, 5, 6});
  CHECK(eval(OpKind::EmbeddingGrad, {&ids, &dy}, {{"rows", I(3)}}).f ==
        std::vector<float>{5, 6, 4, 6, 0, 0});
  Tensor bad = i32({3}, {1, 1, 7});
  CHECK(evalError(OpKind::EmbeddingGrad, {&bad, &dy}, {{"rows", I(3)}}) ==
        "embedding_grad: token id 7 outside the table of 3 rows");
}

TEST_CASE("embedding_grad_add scatters into acc: a row's sum first, then one add") {
  // ids (1,1,0); acc row 1 starts at 1e8, where f32's spacing is 8: the row's sum 3 + 3 = 6 is
  // added once, 1e8 + 6 -> 1e8 + 8, as add(acc, embedding_grad) rounds (adding 3 twice would
  // give 1e8). Row 2 is not named by ids and stays acc's.
  Tensor acc = f32({3, 2}, {100, 200, 1e8f, 0, 7, 8});
  Tensor ids = i32({3}, {1, 1, 0}), dy = f32({3, 2}, {3, 2, 3, 4, 5, 6});
  Tensor y = eval(OpKind::EmbeddingGradAdd, {&acc, &ids, &dy});
  CHECK(y.f == std::vector<float>{105, 206, 100000008.0f, 6, 7, 8});
  Tensor bad = i32({3}, {1, 1, 7});
  CHECK(evalError(OpKind::EmbeddingGradAdd, {&acc, &bad, &dy}) ==
        "embedding_grad_add: embedding_grad: token id 7 outside the table of 3 rows");
  Tensor wide = f32({3, 3}, std::vector<float>(9, 0.0f));
  CHECK(evalError(OpKind::EmbeddingGradAdd, {&wide, &ids, &dy}).find("no broadcasting") !=
        std::string::npos);
}

TEST_CASE("sinusoidal positions") {
  // dim 4: frequencies 1/10000^(0/4) = 1 and 1/10000^(2/4) = 0.01.
  //   p=0: (sin 0, cos 0, sin 0, cos 0) = (0,1,0,1)
  //   p=1: (sin 1, cos 1, sin 0.01, cos 0.01) = (0.8414710, 0.5403023, 0.0099998, 0.9999500)
  Tensor pe = eval(OpKind::Sinusoidal, {}, {{"rows", I(2)}, {"dim", I(4)}});
  CHECK(pe.type.shape == Shape{2, 4});
  checkClose(pe.f, {0, 1, 0, 1, 0.8414710f, 0.5403023f, 0.0099998f, 0.9999500f}, 1e-6);
}

TEST_CASE("cross_entropy: mean over counted rows, ignore_index, classes") {
  // Row 0 logits (0, ln 3): softmax (0.25, 0.75); target 1 -> -ln 0.75 = 0.2876821.
  // Row 1 logits (0, 0): softmax (0.5, 0.5); target 0 -> ln 2 = 0.6931472. Mean 0.4904146.
  Tensor logits = f32({2, 2}, {0, std::log(3.0f), 0, 0});
  Tensor t = i32({2}, {1, 0});
  CHECK(eval(OpKind::CrossEntropy, {&logits, &t}).f[0] == doctest::Approx(0.4904146).epsilon(1e-6));
  // Row 1 ignored: only row 0 counts.
  Tensor ign = i32({2}, {1, -1});
  CHECK(eval(OpKind::CrossEntropy, {&logits, &ign}).f[0] ==
        doctest::Approx(0.2876821).epsilon(1e-6));
  // ignore_index = 0 (PAD): row 1's target 0 is ignored.
  CHECK(eval(OpKind::CrossEntropy, {&logits, &t}, {{"ignore_index", I(0)}}).f[0] ==
        doctest::Approx(0.2876821).epsilon(1e-6));
  // No counted rows: loss 0, not NaN.
  Tensor none = i32({2}, {-1, -1});
  CHECK(eval(OpKind::CrossEntropy, {&logits, &none}).f[0] == 0.0f);
  // classes 2 of width 3: column 2 (the vocabulary padding) plays no part, however large.
  Tensor padded = f32({1, 1, 3}, {0, std::log(3.0f), 100});
  Tensor t1 = i32({1, 1}, {1});
  CHECK(eval(OpKind::CrossEntropy, {&padded, &t1}, {{"classes", I(2)}}).f[0] ==
        doctest::Approx(0.2876821).epsilon(1e-6));
}

TEST_CASE("cross_entropy: a target outside the classes is an error, not a crash") {
  Tensor logits = f32({1, 3}, {0, 0, 0});
  Tensor t = i32({1}, {2});
  CHECK(evalError(OpKind::CrossEntropy, {&logits, &t}, {{"classes", I(2)}}) ==
        "cross_entropy: target 2 at row 0 is outside the 2 classes [0, 2)");
  Tensor neg = i32({1}, {-5});
  CHECK(evalError(OpKind::CrossEntropy, {&logits, &neg}).find("target -5 at row 0") !=
        std::string::npos);
}

TEST_CASE("cross_entropy_grad: (softmax - onehot) * dloss / count") {
  // Rows as above, count 2, dloss 1: row 0 (0.25, 0.75-1)/2 = (0.125, -0.125);
  // row 1 (0.5-1, 0.5)/2 = (-0.25, 0.25).
  Tensor logits = f32({2, 2}, {0, std::log(3.0f), 0, 0});
  Tensor t = i32({2}, {1, 0}), one = Tensor::scalarF32(1);
  checkClose(eval(OpKind::CrossEntropyGrad, {&logits, &t, &one}).f,
             {0.125f, -0.125f, -0.25f, 0.25f});
  // Ignored row 1 -> zeros and count 1; dloss 2 doubles row 0: (0.5, -0.5).
  Tensor ign = i32({2}, {1, -1}), two = Tensor::scalarF32(2);
  checkClose(eval(OpKind::CrossEntropyGrad, {&logits, &ign, &two}).f, {0.5f, -0.5f, 0, 0});
  // Padding column (classes 2 of 3) gets exactly zero gradient.
  Tensor padded = f32({1, 3}, {0, std::log(3.0f), 100});
  Tensor t1 = i32({1}, {1});
  Tensor g = eval(OpKind::CrossEntropyGrad, {&padded, &t1, &one}, {{"classes", I(2)}});
  checkClose(g.f, {0.25f, -0.25f, 0});
  CHECK(g.f[2] == 0.0f);
}
