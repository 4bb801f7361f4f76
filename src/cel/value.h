// Value: a CEL runtime value (null, bool, int, uint, double, string, bytes, list, map,
// timestamp, duration, type, optional, Kubernetes library objects, and errors).
//
// Lists and maps are either native (shared immutable vectors) or lazy views over a shared
// nlohmann::json document, so binding a large Kubernetes object to a variable costs one
// shared_ptr copy and only the nodes an expression touches are ever converted.
//
// Values are immutable after construction; copies share their payload. A Value may be read
// concurrently from any number of threads.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace tether::cel {

class Value;

struct NullValue {};
struct Bytes {
  std::string data;
};
// Seconds since the Unix epoch plus nanoseconds in [0, 1e9). Range 0001-01-01..9999-12-31.
struct Timestamp {
  int64_t seconds = 0;
  int32_t nanos = 0;
};
// Signed nanoseconds (Go time.Duration range, as cel-go).
struct DurationValue {
  int64_t nanos = 0;
};
struct TypeValue {
  std::string name;
};

// A JSON node kept alive by its document.
struct JsonRef {
  std::shared_ptr<const nlohmann::json> root;
  const nlohmann::json* node = nullptr;
};

struct ListValue {
  std::shared_ptr<const std::vector<Value>> items;  // native list, or
  JsonRef json;                                     // a JSON array when items is null
};

struct MapValue {
  std::shared_ptr<const std::vector<std::pair<Value, Value>>> entries;  // native, or
  JsonRef json;  // a JSON object when entries is null
};

struct OptionalValue {
  std::shared_ptr<const Value> value;  // null: optional.none()
};

// Kubernetes library objects (quantity, semver, ip, cidr, url, ...).
class Opaque {
 public:
  virtual ~Opaque() = default;
  [[nodiscard]] virtual std::string TypeName() const = 0;
  // Canonical string form (also used for JSON output).
  [[nodiscard]] virtual std::string ToString() const = 0;
  [[nodiscard]] virtual bool Equals(const Opaque& other) const = 0;
};
struct OpaqueValue {
  std::shared_ptr<const Opaque> object;
};

// An evaluation error travelling as a value (so && and || can absorb it).
struct ErrorInfo {
  std::string message;
  int32_t position = -1;  // source offset in code points, -1 if unknown
  bool cost_exceeded = false;
};
struct ErrorValue {
  std::shared_ptr<const ErrorInfo> info;
};

enum class Kind {
  kNull,
  kBool,
  kInt,
  kUint,
  kDouble,
  kString,
  kBytes,
  kList,
  kMap,
  kTimestamp,
  kDuration,
  kType,
  kOptional,
  kOpaque,
  kError,
};

class Value {
 public:
  using Storage = std::variant<NullValue, bool, int64_t, uint64_t, double, std::string, Bytes,
                               ListValue, MapValue, Timestamp, DurationValue, TypeValue,
                               OptionalValue, OpaqueValue, ErrorValue>;

  Value() : v_(NullValue{}) {}
  Value(NullValue v) : v_(v) {}                                  // NOLINT
  Value(bool b) : v_(b) {}                                       // NOLINT
  Value(int64_t i) : v_(i) {}                                    // NOLINT
  Value(int i) : v_(static_cast<int64_t>(i)) {}                  // NOLINT
  Value(long long i) : v_(static_cast<int64_t>(i)) {}            // NOLINT
  Value(uint64_t u) : v_(u) {}                                   // NOLINT
  Value(unsigned long long u) : v_(static_cast<uint64_t>(u)) {}  // NOLINT
  Value(double d) : v_(d) {}                                     // NOLINT
  Value(std::string s) : v_(std::move(s)) {}                     // NOLINT
  Value(const char* s) : v_(std::string(s)) {}                   // NOLINT
  Value(Bytes b) : v_(std::move(b)) {}                           // NOLINT
  Value(ListValue l) : v_(std::move(l)) {}                       // NOLINT
  Value(MapValue m) : v_(std::move(m)) {}                        // NOLINT
  Value(Timestamp t) : v_(t) {}                                  // NOLINT
  Value(DurationValue d) : v_(d) {}                              // NOLINT
  Value(TypeValue t) : v_(std::move(t)) {}                       // NOLINT
  Value(OptionalValue o) : v_(std::move(o)) {}                   // NOLINT
  Value(OpaqueValue o) : v_(std::move(o)) {}                     // NOLINT
  Value(ErrorValue e) : v_(std::move(e)) {}                      // NOLINT

  [[nodiscard]] Kind kind() const { return static_cast<Kind>(v_.index()); }
  [[nodiscard]] bool IsError() const { return kind() == Kind::kError; }

  [[nodiscard]] bool AsBool() const { return std::get<bool>(v_); }
  [[nodiscard]] int64_t AsInt() const { return std::get<int64_t>(v_); }
  [[nodiscard]] uint64_t AsUint() const { return std::get<uint64_t>(v_); }
  [[nodiscard]] double AsDouble() const { return std::get<double>(v_); }
  [[nodiscard]] const std::string& AsString() const { return std::get<std::string>(v_); }
  [[nodiscard]] const Bytes& AsBytes() const { return std::get<Bytes>(v_); }
  [[nodiscard]] const ListValue& AsList() const { return std::get<ListValue>(v_); }
  [[nodiscard]] const MapValue& AsMap() const { return std::get<MapValue>(v_); }
  [[nodiscard]] const Timestamp& AsTimestamp() const { return std::get<Timestamp>(v_); }
  [[nodiscard]] const DurationValue& AsDuration() const { return std::get<DurationValue>(v_); }
  [[nodiscard]] const TypeValue& AsType() const { return std::get<TypeValue>(v_); }
  [[nodiscard]] const OptionalValue& AsOptional() const { return std::get<OptionalValue>(v_); }
  [[nodiscard]] const OpaqueValue& AsOpaque() const { return std::get<OpaqueValue>(v_); }
  [[nodiscard]] const ErrorInfo& AsError() const { return *std::get<ErrorValue>(v_).info; }

  [[nodiscard]] const Storage& storage() const { return v_; }

 private:
  Storage v_;
};

// ---- construction helpers ----
Value MakeList(std::vector<Value> items);
Value MakeMap(std::vector<std::pair<Value, Value>> entries);
Value MakeError(std::string message, int32_t position = -1);
Value MakeOptional(std::optional<Value> v);
Value MakeType(std::string name);

// JSON → CEL. Objects → maps, arrays → lists (both lazily wrapped, not copied), whole numbers →
// int (uint when above int64 range), other numbers → double, strings stay strings.
Value FromJson(std::shared_ptr<const nlohmann::json> document);
Value FromJson(nlohmann::json document);
Value FromJsonNode(const JsonRef& ref);

// CEL → plain JSON: timestamps as RFC 3339, durations as "<seconds>s", bytes as base64,
// library objects by canonical string, optionals as their value or null, types by name.
nlohmann::json ToJson(const Value& v);

// CEL type name: "int", "uint", "double", "bool", "string", "bytes", "null_type", "list",
// "map", "google.protobuf.Timestamp", "google.protobuf.Duration", "type", "optional_type",
// or a library type such as "kubernetes.Quantity".
std::string TypeName(const Value& v);

// ---- list/map access working on both native and JSON representations ----
size_t ListSize(const ListValue& l);
Value ListAt(const ListValue& l, size_t i);
size_t MapSize(const MapValue& m);
// Finds a key with CEL equality semantics (1 == 1u == 1.0 for numeric keys).
std::optional<Value> MapFind(const MapValue& m, const Value& key);
std::optional<Value> MapFindString(const MapValue& m, std::string_view key);
// Calls fn(key, value) for each entry in order; stops early when fn returns false.
template <typename Fn>
void MapForEach(const MapValue& m, Fn&& fn);
std::vector<Value> MapKeys(const MapValue& m);

// CEL equality (heterogeneous numeric equality, deep for lists/maps). Errors never compare
// equal; callers check for errors first.
bool Equal(const Value& a, const Value& b);
// Ordering for comparable pairs: -1, 0, 1; nullopt when the pair is not ordered (types
// differ, NaN involved).
std::optional<int> Compare(const Value& a, const Value& b);

// Debug rendering (CEL literal-like syntax), for messages and tests.
std::string DebugString(const Value& v);

// Base64 (standard alphabet, padded).
std::string Base64Encode(std::string_view data);
bool Base64Decode(std::string_view text, std::string* out);

// Timestamp/duration text forms.
std::string FormatTimestamp(const Timestamp& t);
std::string FormatDurationSeconds(const DurationValue& d);

// ---- template implementation ----
template <typename Fn>
void MapForEach(const MapValue& m, Fn&& fn) {
  if (m.entries) {
    for (const auto& [k, v] : *m.entries) {
      if (!fn(k, v)) return;
    }
    return;
  }
  for (auto it = m.json.node->begin(); it != m.json.node->end(); ++it) {
    if (!fn(Value(it.key()), FromJsonNode(JsonRef{m.json.root, &it.value()}))) return;
  }
}

}  // namespace tether::cel
