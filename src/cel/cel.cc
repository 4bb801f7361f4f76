#include "cel/cel.h"

#include <fmt/format.h>
#include <re2/re2.h>

#include <cmath>
#include <limits>
#include <set>

#include "cel/library.h"
#include "cel/time_util.h"

namespace tether::cel {

namespace {

enum Op {
  kOpAnd,
  kOpOr,
  kOpNot,
  kOpNeg,
  kOpCond,
  kOpEq,
  kOpNe,
  kOpLt,
  kOpLe,
  kOpGt,
  kOpGe,
  kOpAdd,
  kOpSub,
  kOpMul,
  kOpDiv,
  kOpMod,
  kOpIn,
  kOpIndex,
  kOpOptIndex,
  kOpNotStrictlyFalse,
};

const std::unordered_map<std::string, int>& Operators() {
  static const auto* kOps = new std::unordered_map<std::string, int>{
      {"_&&_", kOpAnd},       {"_||_", kOpOr},
      {"!_", kOpNot},         {"-_", kOpNeg},
      {"_?_:_", kOpCond},     {"_==_", kOpEq},
      {"_!=_", kOpNe},        {"_<_", kOpLt},
      {"_<=_", kOpLe},        {"_>_", kOpGt},
      {"_>=_", kOpGe},        {"_+_", kOpAdd},
      {"_-_", kOpSub},        {"_*_", kOpMul},
      {"_/_", kOpDiv},        {"_%_", kOpMod},
      {"@in", kOpIn},         {"_[_]", kOpIndex},
      {"_[?_]", kOpOptIndex}, {"@not_strictly_false", kOpNotStrictlyFalse}};
  return *kOps;
}

const std::set<std::string, std::less<>>& TypeNames() {
  static const auto* kTypes = new std::set<std::string, std::less<>>{"int",
                                                                     "uint",
                                                                     "double",
                                                                     "bool",
                                                                     "string",
                                                                     "bytes",
                                                                     "list",
                                                                     "map",
                                                                     "null_type",
                                                                     "type",
                                                                     "google.protobuf.Timestamp",
                                                                     "google.protobuf.Duration",
                                                                     "optional_type"};
  return *kTypes;
}

// ---------------------------------------------------------------------------------------
// Checker: resolves identifiers to slots/variables, calls to operators/functions.

class Checker {
 public:
  Checker(std::string_view src, const Env& env) : src_(src), env_(env) {}

  Result<bool> Visit(ExprPtr& e) {
    switch (e->kind) {
      case ExprKind::kConst:
        return true;
      case ExprKind::kIdent:
        return VisitIdent(e);
      case ExprKind::kSelect: {
        // A qualified variable name such as "a.b.c"?
        std::string qn = QualifiedName(*e);
        if (!qn.empty() && !IsBoundRoot(*e)) {
          if (auto idx = FindVariable(qn)) {
            auto id = std::make_unique<Expr>();
            id->kind = ExprKind::kIdent;
            id->position = e->position;
            id->name = qn;
            id->global = *idx;
            if (e->test_only) {
              // has(a.b) where a.b is a variable: unsupported form.
              return Err(e->position, "invalid argument to has() macro");
            }
            e = std::move(id);
            return true;
          }
          if (TypeNames().count(qn)) {
            auto c = std::make_unique<Expr>();
            c->kind = ExprKind::kConst;
            c->position = e->position;
            c->constant = MakeType(qn);
            e = std::move(c);
            return true;
          }
        }
        return Visit(e->target);
      }
      case ExprKind::kCall:
        return VisitCall(e);
      case ExprKind::kList:
        for (auto& a : e->args) {
          if (auto r = Visit(a); !r) return r;
        }
        return true;
      case ExprKind::kMap:
      case ExprKind::kStruct:
        for (auto& en : e->entries) {
          if (auto r = Visit(en.key); !r) return r;
          if (auto r = Visit(en.value); !r) return r;
        }
        if (e->kind == ExprKind::kStruct) {
          return Err(e->position, fmt::format("unknown type '{}': message types are not supported "
                                              "(use a map literal instead)",
                                              e->name));
        }
        return true;
      case ExprKind::kComprehension:
        return VisitComprehension(e);
    }
    return true;
  }

  bool uses_now() const { return uses_now_; }
  int max_slots() const { return max_slots_; }

 private:
  tl::unexpected<Error> Err(int32_t pos, const std::string& msg) {
    return Fail(ErrorCode::kInvalid, FormatPosition(src_, pos) + ": " + msg);
  }

  static std::string QualifiedName(const Expr& e) {
    if (e.kind == ExprKind::kIdent) return e.name;
    if (e.kind == ExprKind::kSelect && !e.optional && e.target) {
      std::string base = QualifiedName(*e.target);
      if (!base.empty()) return base + "." + e.name;
    }
    return "";
  }

  const Expr* Root(const Expr& e) const {
    const Expr* r = &e;
    while (r->kind == ExprKind::kSelect) r = r->target.get();
    return r;
  }

  // True when the root identifier of a select chain is a local or a declared variable.
  bool IsBoundRoot(const Expr& e) const {
    const Expr* r = Root(e);
    if (r->kind != ExprKind::kIdent) return true;
    if (!r->name.empty() && r->name[0] == '.') return false;
    return FindLocal(r->name) >= 0 || FindVariable(r->name).has_value();
  }

  int FindLocal(const std::string& name) const {
    for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it) {
      if (it->first == name) return it->second;
    }
    return -1;
  }

  std::optional<int> FindExact(std::string_view name) const {
    for (size_t i = 0; i < env_.variables.size(); ++i) {
      if (env_.variables[i] == name) return static_cast<int>(i);
    }
    return std::nullopt;
  }

  // Resolves a (possibly qualified) variable name like cel-go: inside container "a.b", name
  // "x" is tried as "a.b.x", then "a.x", then "x". A leading dot means the root scope only.
  std::optional<int> FindVariable(std::string_view name) const {
    if (!name.empty() && name[0] == '.') return FindExact(name.substr(1));
    std::string container = env_.container;
    while (!container.empty()) {
      if (auto idx = FindExact(container + "." + std::string(name))) return idx;
      size_t dot = container.rfind('.');
      container = dot == std::string::npos ? "" : container.substr(0, dot);
    }
    return FindExact(name);
  }

  Result<bool> VisitIdent(ExprPtr& e) {
    bool leading_dot = !e->name.empty() && e->name[0] == '.';
    if (!leading_dot) {
      int slot = FindLocal(e->name);
      if (slot >= 0) {
        e->slot = slot;
        return true;
      }
    }
    if (auto idx = FindVariable(e->name)) {
      e->global = *idx;
      return true;
    }
    std::string bare = leading_dot ? e->name.substr(1) : e->name;
    if (TypeNames().count(bare)) {
      e->kind = ExprKind::kConst;
      e->constant = MakeType(bare);
      return true;
    }
    return Unresolved(e, fmt::format("undeclared reference to '{}'", bare));
  }

  // An unresolved name: a compile error, or (defer_unresolved) an error at evaluation.
  Result<bool> Unresolved(ExprPtr& e, std::string message) {
    if (!env_.defer_unresolved) return Err(e->position, message);
    if (e->kind == ExprKind::kCall) {
      static const FunctionDef kUnresolved{
          [](EvalState&, const Expr& call, std::vector<Value>&) {
            return MakeError(fmt::format("undeclared reference to '{}'", call.name), call.position);
          },
          true, true};
      e->function = &kUnresolved;
      return true;
    }
    e->kind = ExprKind::kConst;
    e->constant = MakeError(std::move(message), e->position);
    return true;
  }

  Result<bool> VisitCall(ExprPtr& e) {
    if (e->target) {
      // Namespaced global function such as math.greatest(...) or optional.of(...).
      std::string qn = QualifiedName(*e->target);
      if (!qn.empty() && !IsBoundRoot(*e->target)) {
        std::string full = (qn[0] == '.' ? qn.substr(1) : qn) + "." + e->name;
        auto it = Functions().find(full);
        if (it != Functions().end() && it->second.global) {
          e->name = full;
          e->target.reset();
          e->function = &it->second;
          for (auto& a : e->args) {
            if (auto r = Visit(a); !r) return r;
          }
          return true;
        }
      }
      if (auto r = Visit(e->target); !r) return r;
      for (auto& a : e->args) {
        if (auto r = Visit(a); !r) return r;
      }
      auto it = Functions().find(e->name);
      if (it == Functions().end() || !it->second.member) {
        return Unresolved(e, fmt::format("undeclared reference to '{}'", e->name));
      }
      e->function = &it->second;
      if (e->name == "matches" && e->args.size() == 1 && e->args[0]->kind == ExprKind::kConst &&
          e->args[0]->constant.kind() == Kind::kString) {
        return PrecompileRegex(*e, e->args[0]->constant.AsString());
      }
      return true;
    }
    for (auto& a : e->args) {
      if (auto r = Visit(a); !r) return r;
    }
    auto op = Operators().find(e->name);
    if (op != Operators().end()) {
      e->op = op->second;
      return true;
    }
    std::string name = e->name;
    if (!name.empty() && name[0] == '.') name = name.substr(1);
    if (name == "now") {
      if (!env_.enable_now) {
        return Err(e->position, "undeclared reference to 'now': now() is not available here");
      }
      uses_now_ = true;
    }
    auto it = Functions().find(name);
    if (it == Functions().end() || !it->second.global) {
      return Unresolved(e, fmt::format("undeclared reference to '{}'", name));
    }
    e->name = name;
    e->function = &it->second;
    if ((name == "matches") && e->args.size() == 2 && e->args[1]->kind == ExprKind::kConst &&
        e->args[1]->constant.kind() == Kind::kString) {
      return PrecompileRegex(*e, e->args[1]->constant.AsString());
    }
    return true;
  }

  Result<bool> PrecompileRegex(Expr& e, const std::string& pattern) {
    RE2::Options opts;
    opts.set_log_errors(false);
    auto re = std::make_shared<RE2>(pattern, opts);
    if (!re->ok()) {
      return Err(e.args.back()->position,
                 fmt::format("invalid regular expression '{}': {}", pattern, re->error()));
    }
    e.cache = std::shared_ptr<const void>(re, re.get());
    return true;
  }

  Result<bool> VisitComprehension(ExprPtr& e) {
    if (auto r = Visit(e->range); !r) return r;
    int base = next_slot_;
    e->slot1 = next_slot_++;
    scopes_.emplace_back(e->var1, e->slot1);
    if (!e->var2.empty()) {
      e->slot2 = next_slot_++;
      scopes_.emplace_back(e->var2, e->slot2);
    }
    max_slots_ = std::max(max_slots_, next_slot_);
    Result<bool> r = true;
    if (e->predicate) r = Visit(e->predicate);
    if (r && e->transform) r = Visit(e->transform);
    scopes_.resize(scopes_.size() - (e->var2.empty() ? 1 : 2));
    next_slot_ = base;
    return r;
  }

  std::string_view src_;
  const Env& env_;
  std::vector<std::pair<std::string, int>> scopes_;
  int next_slot_ = 0;
  int max_slots_ = 0;
  bool uses_now_ = false;
};

// ---------------------------------------------------------------------------------------
// Interpreter.

Value Err(const Expr& e, std::string msg) { return MakeError(std::move(msg), e.position); }

Value Overflow(const Expr& e) { return Err(e, "integer overflow"); }

bool IsNumericKind(Kind k) { return k == Kind::kInt || k == Kind::kUint || k == Kind::kDouble; }

Value Arith(const Expr& e, int op, const Value& a, const Value& b) {
  Kind ka = a.kind();
  Kind kb = b.kind();
  if (ka == Kind::kInt && kb == Kind::kInt) {
    int64_t x = a.AsInt();
    int64_t y = b.AsInt();
    int64_t r;
    switch (op) {
      case kOpAdd:
        if (__builtin_add_overflow(x, y, &r)) return Overflow(e);
        return Value(r);
      case kOpSub:
        if (__builtin_sub_overflow(x, y, &r)) return Overflow(e);
        return Value(r);
      case kOpMul:
        if (__builtin_mul_overflow(x, y, &r)) return Overflow(e);
        return Value(r);
      case kOpDiv:
        if (y == 0) return Err(e, "division by zero");
        if (x == std::numeric_limits<int64_t>::min() && y == -1) return Overflow(e);
        return Value(x / y);
      case kOpMod:
        if (y == 0) return Err(e, "modulus by zero");
        if (x == std::numeric_limits<int64_t>::min() && y == -1) return Overflow(e);
        return Value(x % y);
    }
  }
  if (ka == Kind::kUint && kb == Kind::kUint) {
    uint64_t x = a.AsUint();
    uint64_t y = b.AsUint();
    uint64_t r;
    switch (op) {
      case kOpAdd:
        if (__builtin_add_overflow(x, y, &r)) return Overflow(e);
        return Value(r);
      case kOpSub:
        if (__builtin_sub_overflow(x, y, &r)) return Overflow(e);
        return Value(r);
      case kOpMul:
        if (__builtin_mul_overflow(x, y, &r)) return Overflow(e);
        return Value(r);
      case kOpDiv:
        if (y == 0) return Err(e, "division by zero");
        return Value(x / y);
      case kOpMod:
        if (y == 0) return Err(e, "modulus by zero");
        return Value(x % y);
    }
  }
  if (ka == Kind::kDouble && kb == Kind::kDouble) {
    double x = a.AsDouble();
    double y = b.AsDouble();
    switch (op) {
      case kOpAdd:
        return Value(x + y);
      case kOpSub:
        return Value(x - y);
      case kOpMul:
        return Value(x * y);
      case kOpDiv:
        return Value(x / y);
      default:
        break;
    }
  }
  if (op == kOpAdd) {
    if (ka == Kind::kString && kb == Kind::kString) return Value(a.AsString() + b.AsString());
    if (ka == Kind::kBytes && kb == Kind::kBytes)
      return Value(Bytes{a.AsBytes().data + b.AsBytes().data});
    if (ka == Kind::kList && kb == Kind::kList) {
      const auto& la = a.AsList();
      const auto& lb = b.AsList();
      size_t na = ListSize(la);
      size_t nb = ListSize(lb);
      if (na == 0) return b;
      if (nb == 0) return a;
      std::vector<Value> out;
      out.reserve(na + nb);
      for (size_t i = 0; i < na; ++i) out.push_back(ListAt(la, i));
      for (size_t i = 0; i < nb; ++i) out.push_back(ListAt(lb, i));
      return MakeList(std::move(out));
    }
    if (ka == Kind::kDuration && kb == Kind::kDuration) {
      int64_t r;
      if (__builtin_add_overflow(a.AsDuration().nanos, b.AsDuration().nanos, &r))
        return Overflow(e);
      return Value(DurationValue{r});
    }
    if ((ka == Kind::kTimestamp && kb == Kind::kDuration) ||
        (ka == Kind::kDuration && kb == Kind::kTimestamp)) {
      const Timestamp& t = ka == Kind::kTimestamp ? a.AsTimestamp() : b.AsTimestamp();
      int64_t d = ka == Kind::kDuration ? a.AsDuration().nanos : b.AsDuration().nanos;
      Timestamp r;
      int64_t total_nanos = t.nanos + d % 1000000000;
      r.seconds = t.seconds + d / 1000000000 + total_nanos / 1000000000;
      total_nanos %= 1000000000;
      if (total_nanos < 0) {
        total_nanos += 1000000000;
        r.seconds -= 1;
      }
      r.nanos = static_cast<int32_t>(total_nanos);
      if (!TimestampInRange(r)) return Err(e, "timestamp overflow: result is out of range");
      return Value(r);
    }
  }
  if (op == kOpSub) {
    if (ka == Kind::kDuration && kb == Kind::kDuration) {
      int64_t r;
      if (__builtin_sub_overflow(a.AsDuration().nanos, b.AsDuration().nanos, &r))
        return Overflow(e);
      return Value(DurationValue{r});
    }
    if (ka == Kind::kTimestamp && kb == Kind::kTimestamp) {
      __int128 diff =
          (static_cast<__int128>(a.AsTimestamp().seconds) - b.AsTimestamp().seconds) * 1000000000 +
          (a.AsTimestamp().nanos - b.AsTimestamp().nanos);
      if (diff > std::numeric_limits<int64_t>::max() ||
          diff < std::numeric_limits<int64_t>::min()) {
        return Err(e, "integer overflow: duration out of range");
      }
      return Value(DurationValue{static_cast<int64_t>(diff)});
    }
    if (ka == Kind::kTimestamp && kb == Kind::kDuration) {
      if (b.AsDuration().nanos == std::numeric_limits<int64_t>::min()) return Overflow(e);
      return Arith(e, kOpAdd, a, Value(DurationValue{-b.AsDuration().nanos}));
    }
  }
  static const char* kNames[] = {"", "", "", "",    "",    "",    "",    "",
                                 "", "", "", "_+_", "_-_", "_*_", "_/_", "_%_"};
  return Err(e, fmt::format("no matching overload for '{}' applied to '({}, {})'", kNames[op],
                            TypeName(a), TypeName(b)));
}

class Interpreter {
 public:
  explicit Interpreter(EvalState& st) : st_(st) {}

  Value Eval(const Expr& e) {
    switch (e.kind) {
      case ExprKind::kConst:
        return e.constant;
      case ExprKind::kIdent:
        if (e.slot >= 0) return st_.locals[static_cast<size_t>(e.slot)];
        return (*st_.globals)[static_cast<size_t>(e.global)];
      case ExprKind::kSelect:
        return EvalSelect(e);
      case ExprKind::kCall:
        if (!st_.Charge(1)) return st_.CostError(e.position);
        if (e.op >= 0) return EvalOp(e);
        return EvalFunction(e);
      case ExprKind::kList:
        return EvalList(e);
      case ExprKind::kMap:
        return EvalMap(e);
      case ExprKind::kStruct:
        return Err(e, "message types are not supported");
      case ExprKind::kComprehension:
        return EvalComprehension(e);
    }
    return Err(e, "internal error: unknown expression kind");
  }

 private:
  Value SelectField(const Expr& e, const Value& operand, bool test_only) {
    switch (operand.kind()) {
      case Kind::kMap: {
        auto v = MapFindString(operand.AsMap(), e.name);
        if (test_only) return Value(v.has_value());
        if (!v) return Err(e, fmt::format("no such key: {}", e.name));
        return *v;
      }
      case Kind::kError:
        return operand;
      default:
        return Err(e, fmt::format("type '{}' does not support field selection", TypeName(operand)));
    }
  }

  Value EvalSelect(const Expr& e) {
    if (!st_.Charge(1)) return st_.CostError(e.position);
    Value operand = Eval(*e.target);
    if (operand.IsError()) return operand;
    if (operand.kind() == Kind::kOptional) {
      const auto& o = operand.AsOptional();
      if (e.test_only) {
        if (!o.value) return Value(false);
        return SelectField(e, *o.value, true);
      }
      if (!o.value) return operand;
      if (o.value->kind() == Kind::kMap) {
        auto v = MapFindString(o.value->AsMap(), e.name);
        return MakeOptional(v);
      }
      return SelectField(e, *o.value, false);
    }
    if (e.optional) {
      if (operand.kind() == Kind::kMap) return MakeOptional(MapFindString(operand.AsMap(), e.name));
      return SelectField(e, operand, false);
    }
    return SelectField(e, operand, e.test_only);
  }

  Value EvalList(const Expr& e) {
    std::vector<Value> out;
    out.reserve(e.args.size());
    for (size_t i = 0; i < e.args.size(); ++i) {
      Value v = Eval(*e.args[i]);
      if (v.IsError()) return v;
      if (e.optional_elements[i]) {
        if (v.kind() != Kind::kOptional) {
          return Err(*e.args[i],
                     fmt::format("optional list element must be an optional value, got '{}'",
                                 TypeName(v)));
        }
        if (v.AsOptional().value) out.push_back(*v.AsOptional().value);
        continue;
      }
      out.push_back(std::move(v));
    }
    if (!st_.Charge(static_cast<int64_t>(out.size()) / 10)) return st_.CostError(e.position);
    return MakeList(std::move(out));
  }

  Value EvalMap(const Expr& e) {
    std::vector<std::pair<Value, Value>> out;
    out.reserve(e.entries.size());
    for (const auto& en : e.entries) {
      Value k = Eval(*en.key);
      if (k.IsError()) return k;
      Kind kk = k.kind();
      if (kk != Kind::kString && kk != Kind::kInt && kk != Kind::kUint && kk != Kind::kBool) {
        return Err(
            *en.key,
            fmt::format("unsupported key type '{}': map keys must be int, uint, bool or string",
                        TypeName(k)));
      }
      Value v = Eval(*en.value);
      if (v.IsError()) return v;
      if (en.optional) {
        if (v.kind() != Kind::kOptional) {
          return Err(*en.value,
                     fmt::format("optional map entry value must be an optional value, got '{}'",
                                 TypeName(v)));
        }
        if (!v.AsOptional().value) continue;
        Value inner = *v.AsOptional().value;
        v = std::move(inner);
      }
      for (const auto& existing : out) {
        if (Equal(existing.first, k))
          return Err(*en.key, fmt::format("Failed with repeated key: {}", DebugString(k)));
      }
      out.emplace_back(std::move(k), std::move(v));
    }
    return MakeMap(std::move(out));
  }

  Value NoOverload2(const Expr& e, const char* name, const Value& a, const Value& b) {
    return Err(e, fmt::format("no matching overload for '{}' applied to '({}, {})'", name,
                              TypeName(a), TypeName(b)));
  }

  Value Index(const Expr& e, const Value& c, const Value& k, bool optional) {
    if (c.kind() == Kind::kOptional) {
      const auto& o = c.AsOptional();
      if (!o.value) return c;
      Value r = Index(e, *o.value, k, true);
      return r;
    }
    if (c.kind() == Kind::kList) {
      const auto& l = c.AsList();
      int64_t idx;
      if (k.kind() == Kind::kInt) {
        idx = k.AsInt();
      } else if (k.kind() == Kind::kUint) {
        idx = k.AsUint() > static_cast<uint64_t>(INT64_MAX) ? -1 : static_cast<int64_t>(k.AsUint());
      } else if (k.kind() == Kind::kDouble) {
        double d = k.AsDouble();
        if (d != std::trunc(d) || std::isnan(d) || std::fabs(d) > 9e18) {
          return Err(e, fmt::format("unsupported index value {}: not an integer", DebugString(k)));
        }
        idx = static_cast<int64_t>(d);
      } else {
        return NoOverload2(e, "_[_]", c, k);
      }
      if (idx < 0 || static_cast<size_t>(idx) >= ListSize(l)) {
        if (optional) return MakeOptional(std::nullopt);
        return Err(e, fmt::format("index out of range: index {}, list size {}", idx, ListSize(l)));
      }
      Value v = ListAt(l, static_cast<size_t>(idx));
      return optional ? MakeOptional(std::move(v)) : v;
    }
    if (c.kind() == Kind::kMap) {
      Kind kk = k.kind();
      if (kk != Kind::kString && kk != Kind::kInt && kk != Kind::kUint && kk != Kind::kBool &&
          kk != Kind::kDouble) {
        return NoOverload2(e, "_[_]", c, k);
      }
      auto v = MapFind(c.AsMap(), k);
      if (optional) return MakeOptional(std::move(v));
      if (!v) {
        return Err(e, fmt::format("no such key: {}",
                                  k.kind() == Kind::kString ? k.AsString() : DebugString(k)));
      }
      return *v;
    }
    return NoOverload2(e, "_[_]", c, k);
  }

  static bool IsCostError(const Value& v) { return v.IsError() && v.AsError().cost_exceeded; }

  Value EvalOp(const Expr& e) {
    switch (e.op) {
      case kOpAnd:
      case kOpOr: {
        bool is_and = e.op == kOpAnd;
        Value a = Eval(*e.args[0]);
        if (st_.aborted) return st_.CostError(e.position);
        if (a.kind() == Kind::kBool && a.AsBool() != is_and) return a;  // short circuit
        Value b = Eval(*e.args[1]);
        if (st_.aborted) return st_.CostError(e.position);
        if (b.kind() == Kind::kBool && b.AsBool() != is_and) return b;
        if (a.kind() == Kind::kBool && b.kind() == Kind::kBool) return Value(is_and);
        if (a.IsError()) return a;
        if (b.IsError()) return b;
        const Value& bad = a.kind() != Kind::kBool ? a : b;
        return Err(e, fmt::format("no matching overload for '{}' applied to '({}, {})'",
                                  is_and ? "_&&_" : "_||_", TypeName(a), TypeName(b)) +
                          (bad.kind() == Kind::kBool ? "" : ""));
      }
      case kOpCond: {
        Value c = Eval(*e.args[0]);
        if (c.IsError()) return c;
        if (c.kind() != Kind::kBool) {
          return Err(
              e,
              fmt::format(
                  "no matching overload for '_?_:_' applied to '({}, ...)': condition must be bool",
                  TypeName(c)));
        }
        return Eval(*e.args[c.AsBool() ? 1 : 2]);
      }
      case kOpNotStrictlyFalse: {
        Value v = Eval(*e.args[0]);
        if (v.kind() == Kind::kBool) return v;
        return Value(true);
      }
      default:
        break;
    }
    // Strict operators.
    Value a = Eval(*e.args[0]);
    if (a.IsError()) return a;
    if (e.op == kOpNot || e.op == kOpNeg) {
      if (e.op == kOpNot) {
        if (a.kind() != Kind::kBool)
          return Err(e,
                     fmt::format("no matching overload for '!_' applied to '({})'", TypeName(a)));
        return Value(!a.AsBool());
      }
      if (a.kind() == Kind::kInt) {
        if (a.AsInt() == std::numeric_limits<int64_t>::min()) return Overflow(e);
        return Value(-a.AsInt());
      }
      if (a.kind() == Kind::kDouble) return Value(-a.AsDouble());
      if (a.kind() == Kind::kDuration) {
        if (a.AsDuration().nanos == std::numeric_limits<int64_t>::min()) return Overflow(e);
        return Value(DurationValue{-a.AsDuration().nanos});
      }
      return Err(e, fmt::format("no matching overload for '-_' applied to '({})'", TypeName(a)));
    }
    Value b = Eval(*e.args[1]);
    if (b.IsError()) return b;
    switch (e.op) {
      case kOpEq:
        return Value(Equal(a, b));
      case kOpNe:
        return Value(!Equal(a, b));
      case kOpLt:
      case kOpLe:
      case kOpGt:
      case kOpGe: {
        auto c = Compare(a, b);
        if (!c) {
          if (IsNumericKind(a.kind()) && IsNumericKind(b.kind())) return Value(false);  // NaN
          static const char* kNames[] = {"_<_", "_<=_", "_>_", "_>=_"};
          return NoOverload2(e, kNames[e.op - kOpLt], a, b);
        }
        switch (e.op) {
          case kOpLt:
            return Value(*c < 0);
          case kOpLe:
            return Value(*c <= 0);
          case kOpGt:
            return Value(*c > 0);
          default:
            return Value(*c >= 0);
        }
      }
      case kOpAdd:
      case kOpSub:
      case kOpMul:
      case kOpDiv:
      case kOpMod: {
        Value r = Arith(e, e.op, a, b);
        if (e.op == kOpAdd &&
            (r.kind() == Kind::kString || r.kind() == Kind::kList || r.kind() == Kind::kBytes)) {
          size_t n = r.kind() == Kind::kString  ? r.AsString().size()
                     : r.kind() == Kind::kBytes ? r.AsBytes().data.size()
                                                : ListSize(r.AsList());
          if (!st_.Charge(static_cast<int64_t>(n / 10))) return st_.CostError(e.position);
        }
        return r;
      }
      case kOpIn: {
        if (b.kind() == Kind::kList) {
          const auto& l = b.AsList();
          size_t n = ListSize(l);
          if (!st_.Charge(static_cast<int64_t>(n))) return st_.CostError(e.position);
          for (size_t i = 0; i < n; ++i) {
            if (Equal(ListAt(l, i), a)) return Value(true);
          }
          return Value(false);
        }
        if (b.kind() == Kind::kMap) return Value(MapFind(b.AsMap(), a).has_value());
        return NoOverload2(e, "@in", a, b);
      }
      case kOpIndex:
        return Index(e, a, b, false);
      case kOpOptIndex:
        if (a.kind() != Kind::kList && a.kind() != Kind::kMap && a.kind() != Kind::kOptional) {
          return NoOverload2(e, "_[?_]", a, b);
        }
        return Index(e, a, b, true);
      default:
        break;
    }
    return Err(e, "internal error: unknown operator");
  }

  Value EvalFunction(const Expr& e) {
    std::vector<Value> args;
    args.reserve(e.args.size() + 1);
    if (e.target) {
      Value t = Eval(*e.target);
      if (t.IsError()) return t;
      args.push_back(std::move(t));
    }
    for (const auto& a : e.args) {
      Value v = Eval(*a);
      if (v.IsError()) return v;
      args.push_back(std::move(v));
    }
    const auto* def = static_cast<const FunctionDef*>(e.function);
    Value r = def->fn(st_, e, args);
    if (st_.aborted && !IsCostError(r)) return st_.CostError(e.position);
    return r;
  }

  // Iterates a list or map; fn(first, second) gets (elem, -) / (key, -) for one variable or
  // (index, elem) / (key, value) for two. fn returns false to stop.
  template <typename Fn>
  Value Iterate(const Expr& e, const Value& range, Fn&& fn) {
    if (range.kind() == Kind::kList) {
      const auto& l = range.AsList();
      size_t n = ListSize(l);
      for (size_t i = 0; i < n; ++i) {
        if (!st_.Charge(1)) return st_.CostError(e.position);
        if (e.var2.empty()) {
          st_.locals[static_cast<size_t>(e.slot1)] = ListAt(l, i);
        } else {
          st_.locals[static_cast<size_t>(e.slot1)] = Value(static_cast<int64_t>(i));
          st_.locals[static_cast<size_t>(e.slot2)] = ListAt(l, i);
        }
        if (!fn()) break;
      }
      return Value(true);
    }
    if (range.kind() == Kind::kMap) {
      bool aborted = false;
      MapForEach(range.AsMap(), [&](const Value& k, const Value& v) {
        if (!st_.Charge(1)) {
          aborted = true;
          return false;
        }
        st_.locals[static_cast<size_t>(e.slot1)] = k;
        if (!e.var2.empty()) st_.locals[static_cast<size_t>(e.slot2)] = v;
        return fn();
      });
      if (aborted) return st_.CostError(e.position);
      return Value(true);
    }
    return Err(e, fmt::format("expression of type '{}' cannot be the range of a comprehension",
                              TypeName(range)));
  }

  Value EvalComprehension(const Expr& e) {
    if (!st_.Charge(1)) return st_.CostError(e.position);
    Value range = Eval(*e.range);
    if (range.IsError()) return range;
    switch (e.macro) {
      case MacroKind::kBind:
        st_.locals[static_cast<size_t>(e.slot1)] = std::move(range);
        return Eval(*e.transform);
      case MacroKind::kOptMap:
      case MacroKind::kOptFlatMap: {
        if (range.kind() != Kind::kOptional) {
          return Err(e, fmt::format("no matching overload for '{}' applied to '{}'",
                                    e.macro == MacroKind::kOptMap ? "optMap" : "optFlatMap",
                                    TypeName(range)));
        }
        if (!range.AsOptional().value) return range;
        st_.locals[static_cast<size_t>(e.slot1)] = *range.AsOptional().value;
        Value r = Eval(*e.transform);
        if (r.IsError()) return r;
        if (e.macro == MacroKind::kOptMap) return MakeOptional(std::move(r));
        if (r.kind() != Kind::kOptional) {
          return Err(e, fmt::format("optFlatMap() expression must return an optional, got '{}'",
                                    TypeName(r)));
        }
        return r;
      }
      default:
        break;
    }
    Value result;
    Value err;
    bool has_err = false;
    switch (e.macro) {
      case MacroKind::kAll:
      case MacroKind::kExists: {
        bool want = e.macro == MacroKind::kExists;  // value that decides the result
        bool decided = false;
        Value it = Iterate(e, range, [&]() {
          Value p = Eval(*e.transform);
          if (st_.aborted) return false;
          if (p.kind() == Kind::kBool) {
            if (p.AsBool() == want) {
              decided = true;
              return false;
            }
            return true;
          }
          if (!has_err) {
            has_err = true;
            err = p.IsError()
                      ? p
                      : Err(*e.transform,
                            fmt::format("no matching overload: predicate returned '{}', not bool",
                                        TypeName(p)));
          }
          return true;
        });
        if (it.IsError()) return it;
        if (st_.aborted) return st_.CostError(e.position);
        if (decided) return Value(want);
        if (has_err) return err;
        return Value(!want);
      }
      case MacroKind::kExistsOne: {
        int64_t count = 0;
        Value it = Iterate(e, range, [&]() {
          Value p = Eval(*e.transform);
          if (p.kind() == Kind::kBool) {
            if (p.AsBool()) ++count;
            return true;
          }
          has_err = true;
          err = p.IsError()
                    ? p
                    : Err(*e.transform,
                          fmt::format("no matching overload: predicate returned '{}', not bool",
                                      TypeName(p)));
          return false;
        });
        if (it.IsError()) return it;
        if (has_err) return err;
        return Value(count == 1);
      }
      case MacroKind::kMap:
      case MacroKind::kFilter:
      case MacroKind::kTransformList: {
        std::vector<Value> out;
        Value it = Iterate(e, range, [&]() {
          if (e.predicate) {
            Value p = Eval(*e.predicate);
            if (p.kind() != Kind::kBool) {
              has_err = true;
              err = p.IsError()
                        ? p
                        : Err(*e.predicate,
                              fmt::format("no matching overload: filter returned '{}', not bool",
                                          TypeName(p)));
              return false;
            }
            if (!p.AsBool()) return true;
          }
          if (e.macro == MacroKind::kFilter) {
            out.push_back(st_.locals[static_cast<size_t>(e.slot1)]);
            return true;
          }
          Value t = Eval(*e.transform);
          if (t.IsError()) {
            has_err = true;
            err = t;
            return false;
          }
          out.push_back(std::move(t));
          return true;
        });
        if (it.IsError()) return it;
        if (has_err) return err;
        return MakeList(std::move(out));
      }
      case MacroKind::kTransformMap:
      case MacroKind::kTransformMapEntry: {
        std::vector<std::pair<Value, Value>> out;
        Value it = Iterate(e, range, [&]() {
          if (e.predicate) {
            Value p = Eval(*e.predicate);
            if (p.kind() != Kind::kBool) {
              has_err = true;
              err = p.IsError()
                        ? p
                        : Err(*e.predicate,
                              fmt::format("no matching overload: filter returned '{}', not bool",
                                          TypeName(p)));
              return false;
            }
            if (!p.AsBool()) return true;
          }
          Value t = Eval(*e.transform);
          if (t.IsError()) {
            has_err = true;
            err = t;
            return false;
          }
          if (e.macro == MacroKind::kTransformMap) {
            out.emplace_back(st_.locals[static_cast<size_t>(e.slot1)], std::move(t));
            return true;
          }
          if (t.kind() != Kind::kMap) {
            has_err = true;
            err = Err(*e.transform,
                      fmt::format("transformMapEntry() expression must return a map, got '{}'",
                                  TypeName(t)));
            return false;
          }
          bool dup = false;
          MapForEach(t.AsMap(), [&](const Value& k, const Value& v) {
            for (const auto& ex : out) {
              if (Equal(ex.first, k)) {
                dup = true;
                has_err = true;
                err = Err(*e.transform,
                          fmt::format("insert failed: key {} already exists", DebugString(k)));
                return false;
              }
            }
            out.emplace_back(k, v);
            return true;
          });
          return !dup;
        });
        if (it.IsError()) return it;
        if (has_err) return err;
        return MakeMap(std::move(out));
      }
      default:
        break;
    }
    return Err(e, "internal error: unknown macro");
  }

  EvalState& st_;
};

}  // namespace

Value EvalState::CostError(int32_t position) const {
  auto info = std::make_shared<ErrorInfo>();
  info->message = kCostExceededMessage;
  info->position = position;
  info->cost_exceeded = true;
  return Value(ErrorValue{std::move(info)});
}

Program::Program(std::string source, ExprPtr root, std::vector<std::string> variables, int slots,
                 bool uses_now)
    : source_(std::move(source)),
      root_(std::move(root)),
      variables_(std::move(variables)),
      slots_(slots),
      uses_now_(uses_now) {}

Program::~Program() = default;

Timestamp ToCelTimestamp(TimePoint t) {
  int64_t ns = t.time_since_epoch().count();
  Timestamp out;
  out.seconds = ns / 1000000000;
  int64_t rem = ns % 1000000000;
  if (rem < 0) {
    rem += 1000000000;
    out.seconds -= 1;
  }
  out.nanos = static_cast<int32_t>(rem);
  return out;
}

Result<Value> Program::Evaluate(const Activation& activation, const EvalOptions& options,
                                EvalDetails* details) const {
  std::vector<Value> globals;
  globals.reserve(variables_.size());
  for (const auto& name : variables_) {
    const Value* v = activation.Find(name);
    if (v == nullptr) {
      // Unbound variables only matter if referenced; bind an error value lazily.
      globals.push_back(MakeError(fmt::format("no value bound for variable '{}'", name)));
    } else {
      globals.push_back(*v);
    }
  }
  EvalState st;
  st.globals = &globals;
  st.locals.resize(static_cast<size_t>(slots_));
  st.budget = options.cost_budget;
  if (options.now) {
    st.has_now = true;
    st.now = ToCelTimestamp(*options.now);
  }
  Interpreter interp(st);
  Value r = interp.Eval(*root_);
  if (details) details->cost = st.cost;
  if (st.aborted || (r.IsError() && r.AsError().cost_exceeded)) {
    return Fail(
        ErrorCode::kTooLarge,
        fmt::format("{}: {}: the expression exceeded its runtime cost budget of {}; simplify it "
                    "or reduce the size of the data it iterates over",
                    FormatPosition(source_, r.IsError() ? std::max(r.AsError().position, 0) : 0),
                    kCostExceededMessage, options.cost_budget));
  }
  if (r.IsError()) {
    const ErrorInfo& info = r.AsError();
    return Fail(ErrorCode::kInvalid,
                FormatPosition(source_, std::max(info.position, 0)) + ": " + info.message);
  }
  return r;
}

Result<bool> Program::EvaluateBool(const Activation& activation, const EvalOptions& options) const {
  auto v = Evaluate(activation, options);
  if (!v) return tl::unexpected(v.error());
  if (v->kind() != Kind::kBool) {
    return Fail(ErrorCode::kInvalid,
                fmt::format("1:1: expression must evaluate to bool, but it returned {} ({}): "
                            "compare the value, e.g. `... == 'True'`",
                            TypeName(*v), DebugString(*v).substr(0, 100)));
  }
  return v->AsBool();
}

Result<std::shared_ptr<const Program>> Compile(std::string_view expression, const Env& env) {
  auto ast = Parse(expression, env.limits);
  if (!ast) return tl::unexpected(ast.error());
  ExprPtr root = std::move(*ast);
  Checker checker(expression, env);
  auto ok = checker.Visit(root);
  if (!ok) return tl::unexpected(ok.error());
  return std::make_shared<const Program>(std::string(expression), std::move(root), env.variables,
                                         checker.max_slots(), checker.uses_now());
}

Result<bool> EvaluateBool(std::string_view expression, const Env& env, const Activation& activation,
                          const EvalOptions& options) {
  auto program = Compile(expression, env);
  if (!program) return tl::unexpected(program.error());
  return (*program)->EvaluateBool(activation, options);
}

// ---------------------------------------------------------------------------------------

const FunctionMap& Functions() {
  static const FunctionMap* kMap = [] {
    auto* m = new FunctionMap();
    RegisterStandardLibrary(*m);
    RegisterStringsLibrary(*m);
    RegisterListsLibrary(*m);
    RegisterKubernetesLibrary(*m);
    RegisterMathLibrary(*m);
    return m;
  }();
  return *kMap;
}

Value NoOverload(const Expr& call, const std::vector<Value>& args) {
  std::string types;
  for (size_t i = 0; i < args.size(); ++i) {
    if (i) types += ", ";
    types += TypeName(args[i]);
  }
  return MakeError(
      fmt::format("found no matching overload for '{}' applied to '({})'", call.name, types),
      call.position);
}

Value CallError(const Expr& call, std::string message) {
  return MakeError(std::move(message), call.position);
}

size_t CodePointCount(std::string_view s) {
  size_t n = 0;
  for (char c : s) {
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;
  }
  return n;
}

bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t n;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;
    for (size_t k = 1; k <= n; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += n + 1;
  }
  return true;
}

}  // namespace tether::cel
