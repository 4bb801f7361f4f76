// cel-go ext.Math: math.greatest/least, rounding, abs/sign, classification, bit operations,
// sqrt.
#include <fmt/format.h>

#include <cmath>
#include <limits>

#include "cel/library.h"

namespace tether::cel {

namespace {

using Args = std::vector<Value>;

bool IsNum(const Value& v) {
  return v.kind() == Kind::kInt || v.kind() == Kind::kUint || v.kind() == Kind::kDouble;
}

Value GreatestLeast(const Expr& e, Args& a, bool greatest) {
  std::vector<Value> items;
  if (a.size() == 1 && a[0].kind() == Kind::kList) {
    const auto& l = a[0].AsList();
    for (size_t i = 0, n = ListSize(l); i < n; ++i) items.push_back(ListAt(l, i));
    if (items.empty()) {
      return CallError(e, fmt::format("{}(list) argument must not be empty", e.name));
    }
  } else {
    items = a;
  }
  if (items.empty()) return NoOverload(e, a);
  for (const auto& v : items) {
    if (!IsNum(v)) return NoOverload(e, a);
  }
  size_t best = 0;
  for (size_t i = 1; i < items.size(); ++i) {
    auto c = Compare(items[i], items[best]);
    if (!c) {
      if (items[i].kind() == Kind::kDouble && std::isnan(items[i].AsDouble())) best = i;
      continue;
    }
    if (greatest ? *c > 0 : *c < 0) best = i;
  }
  return items[best];
}
Value Greatest(EvalState&, const Expr& e, Args& a) { return GreatestLeast(e, a, true); }
Value Least(EvalState&, const Expr& e, Args& a) { return GreatestLeast(e, a, false); }

template <int Op>
Value Rounding(EvalState&, const Expr& e, Args& a) {
  if (a.size() != 1 || a[0].kind() != Kind::kDouble) return NoOverload(e, a);
  double d = a[0].AsDouble();
  switch (Op) {
    case 0:
      return Value(std::ceil(d));
    case 1:
      return Value(std::floor(d));
    case 2:
      return Value(std::round(d));
    default:
      return Value(std::trunc(d));
  }
}

Value Abs(EvalState&, const Expr& e, Args& a) {
  if (a.size() != 1) return NoOverload(e, a);
  switch (a[0].kind()) {
    case Kind::kInt:
      if (a[0].AsInt() == std::numeric_limits<int64_t>::min())
        return CallError(e, "integer overflow");
      return Value(a[0].AsInt() < 0 ? -a[0].AsInt() : a[0].AsInt());
    case Kind::kUint:
      return a[0];
    case Kind::kDouble:
      return Value(std::fabs(a[0].AsDouble()));
    default:
      return NoOverload(e, a);
  }
}

Value Sign(EvalState&, const Expr& e, Args& a) {
  if (a.size() != 1) return NoOverload(e, a);
  switch (a[0].kind()) {
    case Kind::kInt:
      return Value(static_cast<int64_t>(a[0].AsInt() > 0 ? 1 : (a[0].AsInt() < 0 ? -1 : 0)));
    case Kind::kUint:
      return Value(static_cast<uint64_t>(a[0].AsUint() > 0 ? 1 : 0));
    case Kind::kDouble: {
      double d = a[0].AsDouble();
      if (std::isnan(d)) return a[0];
      return Value(d > 0 ? 1.0 : (d < 0 ? -1.0 : 0.0));
    }
    default:
      return NoOverload(e, a);
  }
}

template <int Op>
Value Classify(EvalState&, const Expr& e, Args& a) {
  if (a.size() != 1 || a[0].kind() != Kind::kDouble) return NoOverload(e, a);
  double d = a[0].AsDouble();
  switch (Op) {
    case 0:
      return Value(std::isinf(d));
    case 1:
      return Value(std::isnan(d));
    default:
      return Value(std::isfinite(d));
  }
}

template <int Op>
Value Bit(EvalState&, const Expr& e, Args& a) {
  if (a.size() != 2 || a[0].kind() != a[1].kind() ||
      (a[0].kind() != Kind::kInt && a[0].kind() != Kind::kUint)) {
    return NoOverload(e, a);
  }
  if (a[0].kind() == Kind::kInt) {
    int64_t x = a[0].AsInt(), y = a[1].AsInt();
    return Value(Op == 0 ? (x & y) : Op == 1 ? (x | y) : (x ^ y));
  }
  uint64_t x = a[0].AsUint(), y = a[1].AsUint();
  return Value(Op == 0 ? (x & y) : Op == 1 ? (x | y) : (x ^ y));
}

Value BitNot(EvalState&, const Expr& e, Args& a) {
  if (a.size() != 1) return NoOverload(e, a);
  if (a[0].kind() == Kind::kInt) return Value(~a[0].AsInt());
  if (a[0].kind() == Kind::kUint) return Value(~a[0].AsUint());
  return NoOverload(e, a);
}

template <bool Left>
Value Shift(EvalState&, const Expr& e, Args& a) {
  if (a.size() != 2 || a[1].kind() != Kind::kInt) return NoOverload(e, a);
  int64_t n = a[1].AsInt();
  if (n < 0)
    return CallError(e, fmt::format("math.{}() negative offset: {}",
                                    Left ? "bitShiftLeft" : "bitShiftRight", n));
  if (a[0].kind() == Kind::kInt) {
    auto x = static_cast<uint64_t>(a[0].AsInt());
    if (n > 63) return Value(int64_t{0});
    return Value(static_cast<int64_t>(Left ? x << n : x >> n));
  }
  if (a[0].kind() == Kind::kUint) {
    uint64_t x = a[0].AsUint();
    if (n > 63) return Value(uint64_t{0});
    return Value(Left ? x << n : x >> n);
  }
  return NoOverload(e, a);
}

Value Sqrt(EvalState&, const Expr& e, Args& a) {
  if (a.size() != 1) return NoOverload(e, a);
  switch (a[0].kind()) {
    case Kind::kInt:
      return Value(std::sqrt(static_cast<double>(a[0].AsInt())));
    case Kind::kUint:
      return Value(std::sqrt(static_cast<double>(a[0].AsUint())));
    case Kind::kDouble:
      return Value(std::sqrt(a[0].AsDouble()));
    default:
      return NoOverload(e, a);
  }
}

}  // namespace

void RegisterMathLibrary(FunctionMap& m) {
  auto global = [&](const char* n, LibFn f) { m[n] = FunctionDef{f, false, true}; };
  global("math.greatest", Greatest);
  global("math.least", Least);
  global("math.ceil", Rounding<0>);
  global("math.floor", Rounding<1>);
  global("math.round", Rounding<2>);
  global("math.trunc", Rounding<3>);
  global("math.abs", Abs);
  global("math.sign", Sign);
  global("math.isInf", Classify<0>);
  global("math.isNaN", Classify<1>);
  global("math.isFinite", Classify<2>);
  global("math.bitAnd", Bit<0>);
  global("math.bitOr", Bit<1>);
  global("math.bitXor", Bit<2>);
  global("math.bitNot", BitNot);
  global("math.bitShiftLeft", Shift<true>);
  global("math.bitShiftRight", Shift<false>);
  global("math.sqrt", Sqrt);
}

}  // namespace tether::cel
