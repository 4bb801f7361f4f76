#include "cel/value.h"

#include <fmt/format.h>

#include <cmath>
#include <limits>

#include "cel/time_util.h"

namespace tether::cel {

Value MakeList(std::vector<Value> items) {
  return Value(ListValue{std::make_shared<const std::vector<Value>>(std::move(items)), {}});
}

Value MakeMap(std::vector<std::pair<Value, Value>> entries) {
  return Value(MapValue{
      std::make_shared<const std::vector<std::pair<Value, Value>>>(std::move(entries)), {}});
}

Value MakeError(std::string message, int32_t position) {
  auto info = std::make_shared<ErrorInfo>();
  info->message = std::move(message);
  info->position = position;
  return Value(ErrorValue{std::move(info)});
}

Value MakeOptional(std::optional<Value> v) {
  if (!v) return Value(OptionalValue{});
  return Value(OptionalValue{std::make_shared<const Value>(std::move(*v))});
}

Value MakeType(std::string name) { return Value(TypeValue{std::move(name)}); }

Value FromJsonNode(const JsonRef& ref) {
  const nlohmann::json& j = *ref.node;
  switch (j.type()) {
    case nlohmann::json::value_t::null:
      return Value(NullValue{});
    case nlohmann::json::value_t::boolean:
      return Value(j.get<bool>());
    case nlohmann::json::value_t::number_integer:
      return Value(j.get<int64_t>());
    case nlohmann::json::value_t::number_unsigned: {
      auto u = j.get<uint64_t>();
      if (u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return Value(static_cast<int64_t>(u));
      }
      return Value(u);
    }
    case nlohmann::json::value_t::number_float: {
      double d = j.get<double>();
      return Value(d);
    }
    case nlohmann::json::value_t::string:
      return Value(j.get<std::string>());
    case nlohmann::json::value_t::array:
      return Value(ListValue{nullptr, ref});
    case nlohmann::json::value_t::object:
      return Value(MapValue{nullptr, ref});
    case nlohmann::json::value_t::binary:
      return Value(Bytes{std::string(j.get_binary().begin(), j.get_binary().end())});
    case nlohmann::json::value_t::discarded:
      break;
  }
  return Value(NullValue{});
}

Value FromJson(std::shared_ptr<const nlohmann::json> document) {
  const nlohmann::json* node = document.get();
  return FromJsonNode(JsonRef{std::move(document), node});
}

Value FromJson(nlohmann::json document) {
  return FromJson(std::make_shared<const nlohmann::json>(std::move(document)));
}

std::string FormatTimestamp(const Timestamp& t) { return FormatTimestampRfc3339(t, 0); }

std::string FormatDurationSeconds(const DurationValue& d) {
  int64_t secs = d.nanos / 1000000000;
  int64_t frac = d.nanos % 1000000000;
  std::string out;
  if (d.nanos < 0 && secs == 0) out = "-";
  out += std::to_string(secs);
  if (frac != 0) {
    if (frac < 0) frac = -frac;
    std::string f = fmt::format("{:09d}", frac);
    while (!f.empty() && f.back() == '0') f.pop_back();
    out += "." + f;
  }
  return out + "s";
}

nlohmann::json ToJson(const Value& v) {
  switch (v.kind()) {
    case Kind::kNull:
      return nullptr;
    case Kind::kBool:
      return v.AsBool();
    case Kind::kInt:
      return v.AsInt();
    case Kind::kUint:
      return v.AsUint();
    case Kind::kDouble: {
      double d = v.AsDouble();
      if (std::isnan(d)) return "NaN";
      if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
      return d;
    }
    case Kind::kString:
      return v.AsString();
    case Kind::kBytes:
      return Base64Encode(v.AsBytes().data);
    case Kind::kList: {
      const auto& l = v.AsList();
      if (!l.items) return *l.json.node;
      nlohmann::json out = nlohmann::json::array();
      for (const auto& e : *l.items) out.push_back(ToJson(e));
      return out;
    }
    case Kind::kMap: {
      const auto& m = v.AsMap();
      if (!m.entries) return *m.json.node;
      nlohmann::json out = nlohmann::json::object();
      for (const auto& [k, e] : *m.entries) {
        std::string key;
        switch (k.kind()) {
          case Kind::kString:
            key = k.AsString();
            break;
          case Kind::kInt:
            key = std::to_string(k.AsInt());
            break;
          case Kind::kUint:
            key = std::to_string(k.AsUint());
            break;
          case Kind::kBool:
            key = k.AsBool() ? "true" : "false";
            break;
          default:
            key = DebugString(k);
        }
        out[key] = ToJson(e);
      }
      return out;
    }
    case Kind::kTimestamp:
      return FormatTimestamp(v.AsTimestamp());
    case Kind::kDuration:
      return FormatDurationSeconds(v.AsDuration());
    case Kind::kType:
      return v.AsType().name;
    case Kind::kOptional: {
      const auto& o = v.AsOptional();
      if (!o.value) return nullptr;
      return ToJson(*o.value);
    }
    case Kind::kOpaque:
      return v.AsOpaque().object->ToString();
    case Kind::kError:
      return v.AsError().message;
  }
  return nullptr;
}

std::string TypeName(const Value& v) {
  switch (v.kind()) {
    case Kind::kNull:
      return "null_type";
    case Kind::kBool:
      return "bool";
    case Kind::kInt:
      return "int";
    case Kind::kUint:
      return "uint";
    case Kind::kDouble:
      return "double";
    case Kind::kString:
      return "string";
    case Kind::kBytes:
      return "bytes";
    case Kind::kList:
      return "list";
    case Kind::kMap:
      return "map";
    case Kind::kTimestamp:
      return "google.protobuf.Timestamp";
    case Kind::kDuration:
      return "google.protobuf.Duration";
    case Kind::kType:
      return "type";
    case Kind::kOptional:
      return "optional_type";
    case Kind::kOpaque:
      return v.AsOpaque().object->TypeName();
    case Kind::kError:
      return "error";
  }
  return "unknown";
}

size_t ListSize(const ListValue& l) { return l.items ? l.items->size() : l.json.node->size(); }

Value ListAt(const ListValue& l, size_t i) {
  if (l.items) return (*l.items)[i];
  return FromJsonNode(JsonRef{l.json.root, &(*l.json.node)[i]});
}

size_t MapSize(const MapValue& m) { return m.entries ? m.entries->size() : m.json.node->size(); }

std::optional<Value> MapFindString(const MapValue& m, std::string_view key) {
  if (!m.entries) {
    auto it = m.json.node->find(key);
    if (it == m.json.node->end()) return std::nullopt;
    return FromJsonNode(JsonRef{m.json.root, &*it});
  }
  for (const auto& [k, v] : *m.entries) {
    if (k.kind() == Kind::kString && k.AsString() == key) return v;
  }
  return std::nullopt;
}

std::optional<Value> MapFind(const MapValue& m, const Value& key) {
  if (key.kind() == Kind::kString) return MapFindString(m, key.AsString());
  if (!m.entries) return std::nullopt;  // JSON objects only have string keys
  for (const auto& [k, v] : *m.entries) {
    if (Equal(k, key)) return v;
  }
  return std::nullopt;
}

std::vector<Value> MapKeys(const MapValue& m) {
  std::vector<Value> keys;
  keys.reserve(MapSize(m));
  if (m.entries) {
    for (const auto& kv : *m.entries) keys.push_back(kv.first);
  } else {
    for (auto it = m.json.node->begin(); it != m.json.node->end(); ++it)
      keys.emplace_back(it.key());
  }
  return keys;
}

namespace {

bool IsNumeric(Kind k) { return k == Kind::kInt || k == Kind::kUint || k == Kind::kDouble; }

// Compares numeric values of possibly different kinds exactly.
std::optional<int> CompareNumeric(const Value& a, const Value& b) {
  auto cmp = [](auto x, auto y) { return x < y ? -1 : (x > y ? 1 : 0); };
  Kind ka = a.kind();
  Kind kb = b.kind();
  if (ka == kb) {
    if (ka == Kind::kInt) return cmp(a.AsInt(), b.AsInt());
    if (ka == Kind::kUint) return cmp(a.AsUint(), b.AsUint());
    double x = a.AsDouble();
    double y = b.AsDouble();
    if (std::isnan(x) || std::isnan(y)) return std::nullopt;
    return cmp(x, y);
  }
  if (ka == Kind::kInt && kb == Kind::kUint) {
    if (a.AsInt() < 0) return -1;
    return cmp(static_cast<uint64_t>(a.AsInt()), b.AsUint());
  }
  if (ka == Kind::kUint && kb == Kind::kInt) {
    if (b.AsInt() < 0) return 1;
    return cmp(a.AsUint(), static_cast<uint64_t>(b.AsInt()));
  }
  // One side is double.
  // As cel-go: out-of-range doubles order outside the integer range; otherwise the integer is
  // converted to double (so 2^63-1 and 2^63 compare equal, as in cel-go).
  auto cmp_double_int = [&](double d, int64_t i) -> std::optional<int> {
    if (std::isnan(d)) return std::nullopt;
    if (d < -9223372036854775808.0) return -1;
    if (d > 9223372036854775807.0) return 1;
    return cmp(d, static_cast<double>(i));
  };
  auto cmp_double_uint = [&](double d, uint64_t u) -> std::optional<int> {
    if (std::isnan(d)) return std::nullopt;
    if (d < 0) return -1;
    if (d > 18446744073709551615.0) return 1;
    return cmp(d, static_cast<double>(u));
  };
  if (ka == Kind::kDouble) {
    if (kb == Kind::kInt) return cmp_double_int(a.AsDouble(), b.AsInt());
    return cmp_double_uint(a.AsDouble(), b.AsUint());
  }
  std::optional<int> r = ka == Kind::kInt ? cmp_double_int(b.AsDouble(), a.AsInt())
                                          : cmp_double_uint(b.AsDouble(), a.AsUint());
  if (!r) return r;
  return -*r;
}

}  // namespace

bool Equal(const Value& a, const Value& b) {
  Kind ka = a.kind();
  Kind kb = b.kind();
  if (IsNumeric(ka) && IsNumeric(kb)) {
    auto c = CompareNumeric(a, b);
    return c && *c == 0;
  }
  if (ka != kb) return false;
  switch (ka) {
    case Kind::kNull:
      return true;
    case Kind::kBool:
      return a.AsBool() == b.AsBool();
    case Kind::kString:
      return a.AsString() == b.AsString();
    case Kind::kBytes:
      return a.AsBytes().data == b.AsBytes().data;
    case Kind::kList: {
      const auto& la = a.AsList();
      const auto& lb = b.AsList();
      size_t n = ListSize(la);
      if (n != ListSize(lb)) return false;
      for (size_t i = 0; i < n; ++i) {
        if (!Equal(ListAt(la, i), ListAt(lb, i))) return false;
      }
      return true;
    }
    case Kind::kMap: {
      const auto& ma = a.AsMap();
      const auto& mb = b.AsMap();
      if (MapSize(ma) != MapSize(mb)) return false;
      bool eq = true;
      MapForEach(ma, [&](const Value& k, const Value& v) {
        auto other = MapFind(mb, k);
        if (!other || !Equal(v, *other)) {
          eq = false;
          return false;
        }
        return true;
      });
      return eq;
    }
    case Kind::kTimestamp:
      return a.AsTimestamp().seconds == b.AsTimestamp().seconds &&
             a.AsTimestamp().nanos == b.AsTimestamp().nanos;
    case Kind::kDuration:
      return a.AsDuration().nanos == b.AsDuration().nanos;
    case Kind::kType:
      return a.AsType().name == b.AsType().name;
    case Kind::kOptional: {
      const auto& oa = a.AsOptional();
      const auto& ob = b.AsOptional();
      if (!oa.value || !ob.value) return !oa.value && !ob.value;
      return Equal(*oa.value, *ob.value);
    }
    case Kind::kOpaque:
      return a.AsOpaque().object->TypeName() == b.AsOpaque().object->TypeName() &&
             a.AsOpaque().object->Equals(*b.AsOpaque().object);
    default:
      return false;
  }
}

std::optional<int> Compare(const Value& a, const Value& b) {
  auto cmp = [](const auto& x, const auto& y) { return x < y ? -1 : (x > y ? 1 : 0); };
  Kind ka = a.kind();
  Kind kb = b.kind();
  if (IsNumeric(ka) && IsNumeric(kb)) return CompareNumeric(a, b);
  if (ka != kb) return std::nullopt;
  switch (ka) {
    case Kind::kBool:
      return cmp(a.AsBool(), b.AsBool());
    case Kind::kString:
      return cmp(a.AsString().compare(b.AsString()), 0);
    case Kind::kBytes:
      return cmp(a.AsBytes().data.compare(b.AsBytes().data), 0);
    case Kind::kTimestamp: {
      const auto& x = a.AsTimestamp();
      const auto& y = b.AsTimestamp();
      if (x.seconds != y.seconds) return cmp(x.seconds, y.seconds);
      return cmp(x.nanos, y.nanos);
    }
    case Kind::kDuration:
      return cmp(a.AsDuration().nanos, b.AsDuration().nanos);
    default:
      return std::nullopt;
  }
}

namespace {
std::string QuoteString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        out += c;
    }
  }
  return out + "\"";
}

std::string FormatDouble(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", d);
}
}  // namespace

std::string DebugString(const Value& v) {
  switch (v.kind()) {
    case Kind::kNull:
      return "null";
    case Kind::kBool:
      return v.AsBool() ? "true" : "false";
    case Kind::kInt:
      return std::to_string(v.AsInt());
    case Kind::kUint:
      return std::to_string(v.AsUint()) + "u";
    case Kind::kDouble:
      return FormatDouble(v.AsDouble());
    case Kind::kString:
      return QuoteString(v.AsString());
    case Kind::kBytes:
      return "b" + QuoteString(v.AsBytes().data);
    case Kind::kList: {
      std::string out = "[";
      const auto& l = v.AsList();
      for (size_t i = 0, n = ListSize(l); i < n; ++i) {
        if (i) out += ", ";
        out += DebugString(ListAt(l, i));
      }
      return out + "]";
    }
    case Kind::kMap: {
      std::string out = "{";
      bool first = true;
      MapForEach(v.AsMap(), [&](const Value& k, const Value& e) {
        if (!first) out += ", ";
        first = false;
        out += DebugString(k) + ": " + DebugString(e);
        return true;
      });
      return out + "}";
    }
    case Kind::kTimestamp:
      return "timestamp(\"" + FormatTimestamp(v.AsTimestamp()) + "\")";
    case Kind::kDuration:
      return "duration(\"" + FormatDurationSeconds(v.AsDuration()) + "\")";
    case Kind::kType:
      return v.AsType().name;
    case Kind::kOptional:
      if (!v.AsOptional().value) return "optional.none()";
      return "optional.of(" + DebugString(*v.AsOptional().value) + ")";
    case Kind::kOpaque:
      return v.AsOpaque().object->TypeName() + "(" + QuoteString(v.AsOpaque().object->ToString()) +
             ")";
    case Kind::kError:
      return "error(" + QuoteString(v.AsError().message) + ")";
  }
  return "?";
}

std::string Base64Encode(std::string_view data) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < data.size(); i += 3) {
    uint32_t n = (static_cast<uint8_t>(data[i]) << 16) | (static_cast<uint8_t>(data[i + 1]) << 8) |
                 static_cast<uint8_t>(data[i + 2]);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += kAlphabet[n & 63];
  }
  size_t rest = data.size() - i;
  if (rest == 1) {
    uint32_t n = static_cast<uint8_t>(data[i]) << 16;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += "==";
  } else if (rest == 2) {
    uint32_t n = (static_cast<uint8_t>(data[i]) << 16) | (static_cast<uint8_t>(data[i + 1]) << 8);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += '=';
  }
  return out;
}

bool Base64Decode(std::string_view text, std::string* out) {
  auto decode = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
  };
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  if (text.size() % 4 == 1) return false;
  out->clear();
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    int d = decode(c);
    if (d < 0) return false;
    acc = (acc << 6) | static_cast<uint32_t>(d);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  return true;
}

}  // namespace tether::cel
