// CEL standard library: size, string predicates, conversions, type(), timestamps and
// durations, optionals, base64 encoders.
#include <fmt/format.h>
#include <re2/re2.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>

#include "cel/format_util.h"
#include "cel/library.h"
#include "cel/time_util.h"

namespace tether::cel {

namespace {

using Args = std::vector<Value>;

Value Size(EvalState&, const Expr& e, Args& a) {
  if (a.size() != 1) return NoOverload(e, a);
  switch (a[0].kind()) {
    case Kind::kString:
      return Value(static_cast<int64_t>(CodePointCount(a[0].AsString())));
    case Kind::kBytes:
      return Value(static_cast<int64_t>(a[0].AsBytes().data.size()));
    case Kind::kList:
      return Value(static_cast<int64_t>(ListSize(a[0].AsList())));
    case Kind::kMap:
      return Value(static_cast<int64_t>(MapSize(a[0].AsMap())));
    default:
      return NoOverload(e, a);
  }
}

bool TwoStrings(const Args& a) {
  return a.size() == 2 && a[0].kind() == Kind::kString && a[1].kind() == Kind::kString;
}

Value Contains(EvalState& st, const Expr& e, Args& a) {
  if (!TwoStrings(a)) return NoOverload(e, a);
  st.Charge(static_cast<int64_t>(a[0].AsString().size() / 10));
  return Value(a[0].AsString().find(a[1].AsString()) != std::string::npos);
}
Value StartsWith(EvalState&, const Expr& e, Args& a) {
  if (!TwoStrings(a)) return NoOverload(e, a);
  return Value(a[0].AsString().rfind(a[1].AsString(), 0) == 0);
}
Value EndsWith(EvalState&, const Expr& e, Args& a) {
  if (!TwoStrings(a)) return NoOverload(e, a);
  const auto& s = a[0].AsString();
  const auto& suf = a[1].AsString();
  return Value(s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0);
}

Value Matches(EvalState& st, const Expr& e, Args& a) {
  if (!TwoStrings(a)) return NoOverload(e, a);
  st.Charge(static_cast<int64_t>(a[0].AsString().size() / 10 + 1));
  if (e.cache) {
    return Value(RE2::PartialMatch(a[0].AsString(), *static_cast<const RE2*>(e.cache.get())));
  }
  RE2::Options opts;
  opts.set_log_errors(false);
  RE2 re(a[1].AsString(), opts);
  if (!re.ok()) {
    return CallError(
        e, fmt::format("invalid regular expression '{}': {}", a[1].AsString(), re.error()));
  }
  return Value(RE2::PartialMatch(a[0].AsString(), re));
}

// ---- conversions ----

Value ToInt(EvalState&, const Expr& e, Args& a) {
  if (a.size() != 1) return NoOverload(e, a);
  const Value& v = a[0];
  switch (v.kind()) {
    case Kind::kInt:
      return v;
    case Kind::kUint:
      if (v.AsUint() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return CallError(e, "range error: uint value too large for int");
      }
      return Value(static_cast<int64_t>(v.AsUint()));
    case Kind::kDouble: {
      double d = v.AsDouble();
      if (std::isnan(d) || d <= -9223372036854775808.0 || d >= 9223372036854775807.0) {
        return CallError(e, "range error: double value out of int range");
      }
      return Value(static_cast<int64_t>(d));
    }
    case Kind::kString: {
      const std::string& s = v.AsString();
      errno = 0;
      char* end = nullptr;
      long long r = std::strtoll(s.c_str(), &end, 10);
      if (s.empty() || end != s.c_str() + s.size() || errno == ERANGE ||
          std::isspace(static_cast<unsigned char>(s[0]))) {
        return CallError(e, fmt::format("cannot convert string '{}' to int", s));
      }
      return Value(static_cast<int64_t>(r));
    }
    case Kind::kTimestamp:
      return Value(v.AsTimestamp().seconds);
    case Kind::kDuration:
      return Value(v.AsDuration().nanos);
    case Kind::kBool:
      return NoOverload(e, a);
    default:
      return NoOverload(e, a);
  }
}

Value ToUint(EvalState&, const Expr& e, Args& a) {
  if (a.size() != 1) return NoOverload(e, a);
  const Value& v = a[0];
  switch (v.kind()) {
    case Kind::kUint:
      return v;
    case Kind::kInt:
      if (v.AsInt() < 0) return CallError(e, "range error: negative int value cannot be a uint");
      return Value(static_cast<uint64_t>(v.AsInt()));
    case Kind::kDouble: {
      double d = v.AsDouble();
      if (std::isnan(d) || d <= -1.0 || d >= 18446744073709551615.0) {
        return CallError(e, "range error: double value out of uint range");
      }
      return Value(static_cast<uint64_t>(d));
    }
    case Kind::kString: {
      const std::string& s = v.AsString();
      errno = 0;
      char* end = nullptr;
      if (s.empty() || s[0] == '-' || s[0] == '+' ||
          std::isspace(static_cast<unsigned char>(s[0]))) {
        return CallError(e, fmt::format("cannot convert string '{}' to uint", s));
      }
      unsigned long long r = std::strtoull(s.c_str(), &end, 10);
      if (end != s.c_str() + s.size() || errno == ERANGE) {
        return CallError(e, fmt::format("cannot convert string '{}' to uint", s));
      }
      return Value(static_cast<uint64_t>(r));
    }
    default:
      return NoOverload(e, a);
  }
}

Value ToDouble(EvalState&, const Expr& e, Args& a) {
  if (a.size() != 1) return NoOverload(e, a);
  const Value& v = a[0];
  switch (v.kind()) {
    case Kind::kDouble:
      return v;
    case Kind::kInt:
      return Value(static_cast<double>(v.AsInt()));
    case Kind::kUint:
      return Value(static_cast<double>(v.AsUint()));
    case Kind::kString: {
      const std::string& s = v.AsString();
      char* end = nullptr;
      double d = std::strtod(s.c_str(), &end);
      if (s.empty() || end != s.c_str() + s.size() ||
          std::isspace(static_cast<unsigned char>(s[0]))) {
        return CallError(e, fmt::format("cannot convert string '{}' to double", s));
      }
      return Value(d);
    }
    default:
      return NoOverload(e, a);
  }
}

Value ToStringFn(EvalState&, const Expr& e, Args& a) {
  if (a.size() != 1) return NoOverload(e, a);
  const Value& v = a[0];
  switch (v.kind()) {
    case Kind::kString:
      return v;
    case Kind::kInt:
      return Value(std::to_string(v.AsInt()));
    case Kind::kUint:
      return Value(std::to_string(v.AsUint()));
    case Kind::kDouble:
      return Value(FormatDoubleGo(v.AsDouble()));
    case Kind::kBool:
      return Value(std::string(v.AsBool() ? "true" : "false"));
    case Kind::kBytes:
      if (!IsValidUtf8(v.AsBytes().data))
        return CallError(e, "invalid UTF-8 in bytes, cannot convert to string");
      return Value(v.AsBytes().data);
    case Kind::kTimestamp:
      return Value(FormatTimestamp(v.AsTimestamp()));
    case Kind::kDuration:
      return Value(FormatDurationSeconds(v.AsDuration()));
    case Kind::kOpaque:
      return Value(v.AsOpaque().object->ToString());
    case Kind::kType:
      return Value(v.AsType().name);
    default:
      return NoOverload(e, a);
  }
}

Value ToBytes(EvalState&, const Expr& e, Args& a) {
  if (a.size() != 1) return NoOverload(e, a);
  if (a[0].kind() == Kind::kBytes) return a[0];
  if (a[0].kind() == Kind::kString) return Value(Bytes{a[0].AsString()});
  return NoOverload(e, a);
}

Value ToBool(EvalState&, const Expr& e, Args& a) {
  if (a.size() != 1) return NoOverload(e, a);
  if (a[0].kind() == Kind::kBool) return a[0];
  if (a[0].kind() == Kind::kString) {
    const std::string& s = a[0].AsString();
    if (s == "true" || s == "TRUE" || s == "True" || s == "t" || s == "1") return Value(true);
    if (s == "false" || s == "FALSE" || s == "False" || s == "f" || s == "0") return Value(false);
    return CallError(e, fmt::format("cannot convert string '{}' to bool", s));
  }
  return NoOverload(e, a);
}

Value Dyn(EvalState&, const Expr& e, Args& a) {
  if (a.size() != 1) return NoOverload(e, a);
  return a[0];
}

Value TypeOf(EvalState&, const Expr& e, Args& a) {
  if (a.size() != 1) return NoOverload(e, a);
  return MakeType(TypeName(a[0]));
}

// ---- timestamps and durations ----

Value ToTimestamp(EvalState&, const Expr& e, Args& a) {
  if (a.size() != 1) return NoOverload(e, a);
  switch (a[0].kind()) {
    case Kind::kTimestamp:
      return a[0];
    case Kind::kString: {
      auto t = ParseTimestampRfc3339(a[0].AsString());
      if (!t) {
        return CallError(e, fmt::format("cannot parse timestamp '{}': expected RFC 3339 such as "
                                        "'2024-01-02T15:04:05Z'",
                                        a[0].AsString()));
      }
      return Value(*t);
    }
    case Kind::kInt: {
      Timestamp t{a[0].AsInt(), 0};
      if (!TimestampInRange(t)) return CallError(e, "timestamp out of range");
      return Value(t);
    }
    default:
      return NoOverload(e, a);
  }
}

Value ToDuration(EvalState&, const Expr& e, Args& a) {
  if (a.size() != 1) return NoOverload(e, a);
  switch (a[0].kind()) {
    case Kind::kDuration:
      return a[0];
    case Kind::kString: {
      auto d = ParseGoDuration(a[0].AsString());
      if (!d) {
        return CallError(e, fmt::format("cannot parse duration '{}': expected e.g. '10s', '1h30m', "
                                        "'1.5s', '100ms'",
                                        a[0].AsString()));
      }
      return Value(DurationValue{*d});
    }
    case Kind::kInt:
      return Value(DurationValue{a[0].AsInt()});
    default:
      return NoOverload(e, a);
  }
}

Value Now(EvalState& st, const Expr& e, Args& a) {
  if (!a.empty()) return NoOverload(e, a);
  if (!st.has_now)
    return CallError(e, "now() has no value: the caller did not supply the current time");
  return Value(st.now);
}

enum class Part {
  kFullYear,
  kMonth,
  kDate,
  kDayOfMonth,
  kDayOfWeek,
  kDayOfYear,
  kHours,
  kMinutes,
  kSeconds,
  kMillis
};

template <Part P>
Value TimePart(EvalState&, const Expr& e, Args& a) {
  if (a.empty() || a.size() > 2) return NoOverload(e, a);
  if (a[0].kind() == Kind::kDuration && a.size() == 1) {
    int64_t ns = a[0].AsDuration().nanos;
    switch (P) {
      case Part::kHours:
        return Value(ns / 3600000000000LL);
      case Part::kMinutes:
        return Value(ns / 60000000000LL);
      case Part::kSeconds:
        return Value(ns / 1000000000LL);
      case Part::kMillis:
        return Value((ns / 1000000LL) % 1000);
      default:
        return NoOverload(e, a);
    }
  }
  if (a[0].kind() != Kind::kTimestamp) return NoOverload(e, a);
  int64_t offset = 0;
  if (a.size() == 2) {
    if (a[1].kind() != Kind::kString) return NoOverload(e, a);
    auto off = ZoneOffset(a[1].AsString(), a[0].AsTimestamp().seconds);
    if (!off) {
      return CallError(e, fmt::format("unknown time zone '{}': use an IANA name such as "
                                      "'America/New_York' or an offset such as '+05:30'",
                                      a[1].AsString()));
    }
    offset = *off;
  }
  CivilTime c = ToCivil(a[0].AsTimestamp(), offset);
  switch (P) {
    case Part::kFullYear:
      return Value(c.year);
    case Part::kMonth:
      return Value(static_cast<int64_t>(c.month - 1));
    case Part::kDate:
      return Value(static_cast<int64_t>(c.day));
    case Part::kDayOfMonth:
      return Value(static_cast<int64_t>(c.day - 1));
    case Part::kDayOfWeek:
      return Value(static_cast<int64_t>(c.day_of_week));
    case Part::kDayOfYear:
      return Value(static_cast<int64_t>(c.day_of_year));
    case Part::kHours:
      return Value(static_cast<int64_t>(c.hour));
    case Part::kMinutes:
      return Value(static_cast<int64_t>(c.minute));
    case Part::kSeconds:
      return Value(static_cast<int64_t>(c.second));
    case Part::kMillis:
      return Value(static_cast<int64_t>(c.nanos / 1000000));
  }
  return NoOverload(e, a);
}

// ---- optionals ----

Value OptionalOf(EvalState&, const Expr& e, Args& a) {
  if (a.size() != 1) return NoOverload(e, a);
  return MakeOptional(a[0]);
}

bool IsZeroValue(const Value& v) {
  switch (v.kind()) {
    case Kind::kNull:
      return true;
    case Kind::kBool:
      return !v.AsBool();
    case Kind::kInt:
      return v.AsInt() == 0;
    case Kind::kUint:
      return v.AsUint() == 0;
    case Kind::kDouble:
      return v.AsDouble() == 0;
    case Kind::kString:
      return v.AsString().empty();
    case Kind::kBytes:
      return v.AsBytes().data.empty();
    case Kind::kList:
      return ListSize(v.AsList()) == 0;
    case Kind::kMap:
      return MapSize(v.AsMap()) == 0;
    case Kind::kTimestamp:
      return v.AsTimestamp().seconds == 0 && v.AsTimestamp().nanos == 0;
    case Kind::kDuration:
      return v.AsDuration().nanos == 0;
    default:
      return false;
  }
}

Value OptionalOfNonZero(EvalState&, const Expr& e, Args& a) {
  if (a.size() != 1) return NoOverload(e, a);
  if (IsZeroValue(a[0])) return MakeOptional(std::nullopt);
  return MakeOptional(a[0]);
}

Value OptionalNone(EvalState&, const Expr& e, Args& a) {
  if (!a.empty()) return NoOverload(e, a);
  return MakeOptional(std::nullopt);
}

Value HasValue(EvalState&, const Expr& e, Args& a) {
  if (a.size() != 1 || a[0].kind() != Kind::kOptional) return NoOverload(e, a);
  return Value(a[0].AsOptional().value != nullptr);
}

Value OptValue(EvalState&, const Expr& e, Args& a) {
  if (a.size() != 1 || a[0].kind() != Kind::kOptional) return NoOverload(e, a);
  if (!a[0].AsOptional().value) return CallError(e, "optional.none() dereference");
  return *a[0].AsOptional().value;
}

Value OptOr(EvalState&, const Expr& e, Args& a) {
  if (a.size() != 2 || a[0].kind() != Kind::kOptional || a[1].kind() != Kind::kOptional) {
    return NoOverload(e, a);
  }
  return a[0].AsOptional().value ? a[0] : a[1];
}

Value OptOrValue(EvalState&, const Expr& e, Args& a) {
  if (a.size() != 2 || a[0].kind() != Kind::kOptional) return NoOverload(e, a);
  return a[0].AsOptional().value ? *a[0].AsOptional().value : a[1];
}

Value OptionalUnwrap(EvalState&, const Expr& e, Args& a) {
  if (a.size() != 1 || a[0].kind() != Kind::kList) return NoOverload(e, a);
  std::vector<Value> out;
  const auto& l = a[0].AsList();
  for (size_t i = 0, n = ListSize(l); i < n; ++i) {
    Value v = ListAt(l, i);
    if (v.kind() != Kind::kOptional) return NoOverload(e, a);
    if (v.AsOptional().value) out.push_back(*v.AsOptional().value);
  }
  return MakeList(std::move(out));
}

// ---- encoders ----

Value Base64EncodeFn(EvalState&, const Expr& e, Args& a) {
  if (a.size() != 1 || a[0].kind() != Kind::kBytes) return NoOverload(e, a);
  return Value(Base64Encode(a[0].AsBytes().data));
}

Value Base64DecodeFn(EvalState&, const Expr& e, Args& a) {
  if (a.size() != 1 || a[0].kind() != Kind::kString) return NoOverload(e, a);
  std::string out;
  if (!Base64Decode(a[0].AsString(), &out)) {
    return CallError(e, fmt::format("illegal base64 data in '{}'", a[0].AsString()));
  }
  return Value(Bytes{std::move(out)});
}

}  // namespace

void RegisterStandardLibrary(FunctionMap& m) {
  auto both = [&](const char* n, LibFn f) { m[n] = FunctionDef{f, true, true}; };
  auto global = [&](const char* n, LibFn f) { m[n] = FunctionDef{f, false, true}; };
  auto member = [&](const char* n, LibFn f) { m[n] = FunctionDef{f, true, false}; };
  both("size", Size);
  member("contains", Contains);
  member("startsWith", StartsWith);
  member("endsWith", EndsWith);
  both("matches", Matches);
  global("int", ToInt);
  global("uint", ToUint);
  global("double", ToDouble);
  global("string", ToStringFn);
  global("bytes", ToBytes);
  global("bool", ToBool);
  global("dyn", Dyn);
  global("type", TypeOf);
  global("timestamp", ToTimestamp);
  global("google.protobuf.Timestamp", ToTimestamp);
  global("duration", ToDuration);
  global("google.protobuf.Duration", ToDuration);
  global("now", Now);
  member("getFullYear", TimePart<Part::kFullYear>);
  member("getMonth", TimePart<Part::kMonth>);
  member("getDate", TimePart<Part::kDate>);
  member("getDayOfMonth", TimePart<Part::kDayOfMonth>);
  member("getDayOfWeek", TimePart<Part::kDayOfWeek>);
  member("getDayOfYear", TimePart<Part::kDayOfYear>);
  member("getHours", TimePart<Part::kHours>);
  member("getMinutes", TimePart<Part::kMinutes>);
  member("getSeconds", TimePart<Part::kSeconds>);
  member("getMilliseconds", TimePart<Part::kMillis>);
  global("optional.of", OptionalOf);
  global("optional.ofNonZeroValue", OptionalOfNonZero);
  global("optional.none", OptionalNone);
  global("optional.unwrap", OptionalUnwrap);
  member("unwrapOpt", OptionalUnwrap);
  member("hasValue", HasValue);
  member("value", OptValue);
  member("or", OptOr);
  member("orValue", OptOrValue);
  global("base64.encode", Base64EncodeFn);
  global("base64.decode", Base64DecodeFn);
}

}  // namespace tether::cel
