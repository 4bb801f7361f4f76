// Kubernetes lists library (isSorted, sum, min, max, indexOf, lastIndexOf), cel-go ext.Lists
// (slice, flatten, distinct, sort, reverse, first, last, lists.range) and ext.Sets.
#include <fmt/format.h>

#include <algorithm>

#include "cel/library.h"

namespace tether::cel {

Value StringIndexOfFn(const Expr& e, std::vector<Value>& a, bool last);
Value StringReverseFn(const Expr& e, std::vector<Value>& a);

namespace {

using Args = std::vector<Value>;

std::vector<Value> Items(const ListValue& l) {
  std::vector<Value> out;
  size_t n = ListSize(l);
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) out.push_back(ListAt(l, i));
  return out;
}

bool IsList(const Value& v) { return v.kind() == Kind::kList; }

Value IndexOf(EvalState& st, const Expr& e, Args& a) {
  if (!a.empty() && a[0].kind() == Kind::kString) return StringIndexOfFn(e, a, false);
  if (a.size() != 2 || !IsList(a[0])) return NoOverload(e, a);
  const auto& l = a[0].AsList();
  size_t n = ListSize(l);
  st.Charge(static_cast<int64_t>(n));
  for (size_t i = 0; i < n; ++i) {
    if (Equal(ListAt(l, i), a[1])) return Value(static_cast<int64_t>(i));
  }
  return Value(int64_t{-1});
}

Value LastIndexOf(EvalState& st, const Expr& e, Args& a) {
  if (!a.empty() && a[0].kind() == Kind::kString) return StringIndexOfFn(e, a, true);
  if (a.size() != 2 || !IsList(a[0])) return NoOverload(e, a);
  const auto& l = a[0].AsList();
  size_t n = ListSize(l);
  st.Charge(static_cast<int64_t>(n));
  for (size_t i = n; i > 0; --i) {
    if (Equal(ListAt(l, i - 1), a[1])) return Value(static_cast<int64_t>(i - 1));
  }
  return Value(int64_t{-1});
}

Value Reverse(EvalState&, const Expr& e, Args& a) {
  if (a.size() == 1 && a[0].kind() == Kind::kString) return StringReverseFn(e, a);
  if (a.size() != 1 || !IsList(a[0])) return NoOverload(e, a);
  auto items = Items(a[0].AsList());
  std::reverse(items.begin(), items.end());
  return MakeList(std::move(items));
}

// Checks that all elements are mutually comparable; returns an error value otherwise.
std::optional<Value> CheckComparable(const Expr& e, const std::vector<Value>& items) {
  for (size_t i = 1; i < items.size(); ++i) {
    if (!Compare(items[0], items[i]) && !(Equal(items[0], items[i]))) {
      return CallError(e, fmt::format("{}: elements of types '{}' and '{}' are not comparable",
                                      e.name, TypeName(items[0]), TypeName(items[i])));
    }
  }
  if (!items.empty()) {
    Kind k = items[0].kind();
    if (k == Kind::kList || k == Kind::kMap || k == Kind::kNull || k == Kind::kType ||
        k == Kind::kOptional || k == Kind::kOpaque) {
      if (k != Kind::kOpaque) {
        return CallError(e, fmt::format("{}: elements of type '{}' are not comparable", e.name,
                                        TypeName(items[0])));
      }
    }
  }
  return std::nullopt;
}

int CompareForSort(const Value& a, const Value& b) {
  auto c = Compare(a, b);
  if (c) return *c;
  return 0;
}

Value IsSorted(EvalState& st, const Expr& e, Args& a) {
  if (a.size() != 1 || !IsList(a[0])) return NoOverload(e, a);
  auto items = Items(a[0].AsList());
  st.Charge(static_cast<int64_t>(items.size()));
  if (auto err = CheckComparable(e, items)) return *err;
  for (size_t i = 1; i < items.size(); ++i) {
    if (CompareForSort(items[i - 1], items[i]) > 0) return Value(false);
  }
  return Value(true);
}

Value Sum(EvalState& st, const Expr& e, Args& a) {
  if (a.size() != 1 || !IsList(a[0])) return NoOverload(e, a);
  auto items = Items(a[0].AsList());
  st.Charge(static_cast<int64_t>(items.size()));
  if (items.empty()) return Value(int64_t{0});
  Kind k = items[0].kind();
  if (k == Kind::kInt) {
    int64_t acc = 0;
    for (const auto& v : items) {
      if (v.kind() != Kind::kInt) return NoOverload(e, a);
      if (__builtin_add_overflow(acc, v.AsInt(), &acc)) return CallError(e, "integer overflow");
    }
    return Value(acc);
  }
  if (k == Kind::kUint) {
    uint64_t acc = 0;
    for (const auto& v : items) {
      if (v.kind() != Kind::kUint) return NoOverload(e, a);
      if (__builtin_add_overflow(acc, v.AsUint(), &acc)) return CallError(e, "integer overflow");
    }
    return Value(acc);
  }
  if (k == Kind::kDouble) {
    double acc = 0;
    for (const auto& v : items) {
      if (v.kind() != Kind::kDouble) return NoOverload(e, a);
      acc += v.AsDouble();
    }
    return Value(acc);
  }
  if (k == Kind::kDuration) {
    int64_t acc = 0;
    for (const auto& v : items) {
      if (v.kind() != Kind::kDuration) return NoOverload(e, a);
      if (__builtin_add_overflow(acc, v.AsDuration().nanos, &acc))
        return CallError(e, "integer overflow");
    }
    return Value(DurationValue{acc});
  }
  return NoOverload(e, a);
}

Value MinMax(EvalState& st, const Expr& e, Args& a, bool want_max) {
  if (a.size() != 1 || !IsList(a[0])) return NoOverload(e, a);
  auto items = Items(a[0].AsList());
  st.Charge(static_cast<int64_t>(items.size()));
  if (items.empty())
    return CallError(e, fmt::format("{}() called on an empty list", want_max ? "max" : "min"));
  if (auto err = CheckComparable(e, items)) return *err;
  size_t best = 0;
  for (size_t i = 1; i < items.size(); ++i) {
    int c = CompareForSort(items[i], items[best]);
    if (want_max ? c > 0 : c < 0) best = i;
  }
  return items[best];
}
Value Min(EvalState& st, const Expr& e, Args& a) { return MinMax(st, e, a, false); }
Value Max(EvalState& st, const Expr& e, Args& a) { return MinMax(st, e, a, true); }

Value Slice(EvalState&, const Expr& e, Args& a) {
  if (a.size() != 3 || !IsList(a[0]) || a[1].kind() != Kind::kInt || a[2].kind() != Kind::kInt) {
    return NoOverload(e, a);
  }
  int64_t n = static_cast<int64_t>(ListSize(a[0].AsList()));
  int64_t from = a[1].AsInt();
  int64_t to = a[2].AsInt();
  if (from < 0 || to < 0)
    return CallError(e,
                     fmt::format("cannot slice({}, {}), negative indexes not supported", from, to));
  if (from > to)
    return CallError(
        e, fmt::format("cannot slice({}, {}), start index must be less than or equal to end index",
                       from, to));
  if (to > n)
    return CallError(e, fmt::format("cannot slice({}, {}), list is length {}", from, to, n));
  std::vector<Value> out;
  for (int64_t i = from; i < to; ++i) out.push_back(ListAt(a[0].AsList(), static_cast<size_t>(i)));
  return MakeList(std::move(out));
}

void FlattenInto(const ListValue& l, int64_t depth, std::vector<Value>* out, EvalState& st) {
  for (size_t i = 0, n = ListSize(l); i < n; ++i) {
    Value v = ListAt(l, i);
    st.Charge(1);
    if (v.kind() == Kind::kList && depth > 0) {
      FlattenInto(v.AsList(), depth - 1, out, st);
    } else {
      out->push_back(std::move(v));
    }
  }
}

Value Flatten(EvalState& st, const Expr& e, Args& a) {
  if (a.empty() || a.size() > 2 || !IsList(a[0]) || (a.size() == 2 && a[1].kind() != Kind::kInt)) {
    return NoOverload(e, a);
  }
  int64_t depth = a.size() == 2 ? a[1].AsInt() : 1;
  if (depth < 0) return CallError(e, "level must be non-negative");
  depth = std::min<int64_t>(depth, 100);
  std::vector<Value> out;
  FlattenInto(a[0].AsList(), depth, &out, st);
  return MakeList(std::move(out));
}

Value Distinct(EvalState& st, const Expr& e, Args& a) {
  if (a.size() != 1 || !IsList(a[0])) return NoOverload(e, a);
  auto items = Items(a[0].AsList());
  std::vector<Value> out;
  for (auto& v : items) {
    if (!st.Charge(static_cast<int64_t>(out.size()) + 1)) return st.CostError(e.position);
    bool seen = false;
    for (const auto& o : out) {
      if (Equal(o, v)) {
        seen = true;
        break;
      }
    }
    if (!seen) out.push_back(std::move(v));
  }
  return MakeList(std::move(out));
}

Value Sort(EvalState& st, const Expr& e, Args& a) {
  if (a.size() != 1 || !IsList(a[0])) return NoOverload(e, a);
  auto items = Items(a[0].AsList());
  st.Charge(static_cast<int64_t>(items.size()) * 2);
  if (auto err = CheckComparable(e, items)) return *err;
  std::stable_sort(items.begin(), items.end(),
                   [](const Value& x, const Value& y) { return CompareForSort(x, y) < 0; });
  return MakeList(std::move(items));
}

Value First(EvalState&, const Expr& e, Args& a) {
  if (a.size() != 1 || !IsList(a[0])) return NoOverload(e, a);
  const auto& l = a[0].AsList();
  if (ListSize(l) == 0) return MakeOptional(std::nullopt);
  return MakeOptional(ListAt(l, 0));
}

Value Last(EvalState&, const Expr& e, Args& a) {
  if (a.size() != 1 || !IsList(a[0])) return NoOverload(e, a);
  const auto& l = a[0].AsList();
  size_t n = ListSize(l);
  if (n == 0) return MakeOptional(std::nullopt);
  return MakeOptional(ListAt(l, n - 1));
}

Value Range(EvalState& st, const Expr& e, Args& a) {
  if (a.size() != 1 || a[0].kind() != Kind::kInt) return NoOverload(e, a);
  int64_t n = a[0].AsInt();
  if (!st.Charge(std::max<int64_t>(n, 0))) return st.CostError(e.position);
  std::vector<Value> out;
  for (int64_t i = 0; i < n; ++i) out.emplace_back(i);
  return MakeList(std::move(out));
}

bool ListContains(const ListValue& l, const Value& v) {
  for (size_t i = 0, n = ListSize(l); i < n; ++i) {
    if (Equal(ListAt(l, i), v)) return true;
  }
  return false;
}

Value SetsContains(EvalState& st, const Expr& e, Args& a) {
  if (a.size() != 2 || !IsList(a[0]) || !IsList(a[1])) return NoOverload(e, a);
  st.Charge(static_cast<int64_t>(ListSize(a[0].AsList()) * ListSize(a[1].AsList())));
  const auto& sub = a[1].AsList();
  for (size_t i = 0, n = ListSize(sub); i < n; ++i) {
    if (!ListContains(a[0].AsList(), ListAt(sub, i))) return Value(false);
  }
  return Value(true);
}

Value SetsEquivalent(EvalState& st, const Expr& e, Args& a) {
  Value x = SetsContains(st, e, a);
  if (x.IsError() || !x.AsBool()) return x;
  std::swap(a[0], a[1]);
  return SetsContains(st, e, a);
}

Value SetsIntersects(EvalState& st, const Expr& e, Args& a) {
  if (a.size() != 2 || !IsList(a[0]) || !IsList(a[1])) return NoOverload(e, a);
  st.Charge(static_cast<int64_t>(ListSize(a[0].AsList()) * ListSize(a[1].AsList())));
  const auto& other = a[1].AsList();
  for (size_t i = 0, n = ListSize(other); i < n; ++i) {
    if (ListContains(a[0].AsList(), ListAt(other, i))) return Value(true);
  }
  return Value(false);
}

}  // namespace

void RegisterListsLibrary(FunctionMap& m) {
  auto member = [&](const char* n, LibFn f) { m[n] = FunctionDef{f, true, false}; };
  member("indexOf", IndexOf);
  member("lastIndexOf", LastIndexOf);
  member("reverse", Reverse);
  member("isSorted", IsSorted);
  member("sum", Sum);
  member("min", Min);
  member("max", Max);
  member("slice", Slice);
  member("flatten", Flatten);
  member("distinct", Distinct);
  member("sort", Sort);
  member("first", First);
  member("last", Last);
  m["lists.range"] = FunctionDef{Range, false, true};
  m["sets.contains"] = FunctionDef{SetsContains, false, true};
  m["sets.equivalent"] = FunctionDef{SetsEquivalent, false, true};
  m["sets.intersects"] = FunctionDef{SetsIntersects, false, true};
}

}  // namespace tether::cel
