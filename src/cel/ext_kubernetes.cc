// Kubernetes CEL libraries: quantity, semver, ip/cidr, url.
#include <arpa/inet.h>
#include <fmt/format.h>

#include <array>
#include <cmath>
#include <cstring>

#include "cel/library.h"

namespace tether::cel {

namespace {

using Args = std::vector<Value>;
using Int128 = __int128;

// ---------------------------------------------------------------------------------------
// Quantity: value held exactly in nano units (value * 1e9), like Kubernetes' rounding to nano.

enum class QFormat { kDecimalSI, kBinarySI, kDecimalExponent };

constexpr Int128 kNano = 1000000000;
constexpr Int128 kQuantityLimit = static_cast<Int128>(1) << 120;

std::string Int128ToString(Int128 v) {
  if (v == 0) return "0";
  bool neg = v < 0;
  unsigned __int128 u =
      neg ? static_cast<unsigned __int128>(-(v + 1)) + 1 : static_cast<unsigned __int128>(v);
  std::string s;
  while (u > 0) {
    s.push_back(static_cast<char>('0' + static_cast<int>(u % 10)));
    u /= 10;
  }
  if (neg) s.push_back('-');
  return std::string(s.rbegin(), s.rend());
}

class Quantity final : public Opaque {
 public:
  Quantity(Int128 nanos, QFormat format) : nanos_(nanos), format_(format) {}

  [[nodiscard]] std::string TypeName() const override { return "kubernetes.Quantity"; }
  [[nodiscard]] bool Equals(const Opaque& other) const override {
    return nanos_ == static_cast<const Quantity&>(other).nanos_;
  }
  [[nodiscard]] Int128 nanos() const { return nanos_; }
  [[nodiscard]] QFormat format() const { return format_; }

  [[nodiscard]] std::string ToString() const override {
    if (nanos_ == 0) return "0";
    std::string sign = nanos_ < 0 ? "-" : "";
    Int128 abs = nanos_ < 0 ? -nanos_ : nanos_;
    QFormat format = format_;
    if (format == QFormat::kBinarySI) {
      if (abs < 1024 * kNano || abs % kNano != 0) format = QFormat::kDecimalSI;
    }
    if (format == QFormat::kBinarySI) {
      Int128 v = abs / kNano;
      static const char* kSuffix[] = {"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
      int exp = 0;
      while (exp < 6 && v % 1024 == 0) {
        v /= 1024;
        ++exp;
      }
      return sign + Int128ToString(v) + kSuffix[exp];
    }
    // Decimal: mantissa * 10^exponent with exponent a multiple of 3.
    Int128 mantissa = abs;
    int exponent = -9;
    while (mantissa % 10 == 0) {
      mantissa /= 10;
      ++exponent;
    }
    while (((exponent % 3) + 3) % 3 != 0) {
      mantissa *= 10;
      --exponent;
    }
    if (format == QFormat::kDecimalExponent) {
      if (exponent == 0) return sign + Int128ToString(mantissa);
      return sign + Int128ToString(mantissa) + "e" + std::to_string(exponent);
    }
    if (exponent > 18) {
      while (exponent > 18) {
        mantissa *= 1000;
        exponent -= 3;
      }
    }
    static const std::pair<int, const char*> kSi[] = {{-9, "n"}, {-6, "u"}, {-3, "m"}, {0, ""},
                                                      {3, "k"},  {6, "M"},  {9, "G"},  {12, "T"},
                                                      {15, "P"}, {18, "E"}};
    for (auto [e, s] : kSi) {
      if (e == exponent) return sign + Int128ToString(mantissa) + s;
    }
    return sign + Int128ToString(mantissa) + "e" + std::to_string(exponent);
  }

 private:
  Int128 nanos_;
  QFormat format_;
};

std::optional<Quantity> ParseQuantity(std::string_view s) {
  if (s.empty()) return std::nullopt;
  size_t i = 0;
  bool neg = false;
  if (s[i] == '+' || s[i] == '-') {
    neg = s[i] == '-';
    ++i;
  }
  Int128 whole = 0;
  Int128 frac = 0;
  int frac_digits = 0;
  bool any = false;
  bool truncated = false;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
    whole = whole * 10 + (s[i] - '0');
    if (whole > kQuantityLimit) return std::nullopt;
    any = true;
    ++i;
  }
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
      if (frac_digits < 18) {
        frac = frac * 10 + (s[i] - '0');
        ++frac_digits;
      } else if (s[i] != '0') {
        truncated = true;
      }
      any = true;
      ++i;
    }
  }
  if (!any) return std::nullopt;
  std::string_view suffix = s.substr(i);
  QFormat format = QFormat::kDecimalSI;
  int exp10 = 0;
  int exp2 = 0;
  if (suffix.empty()) {
  } else if (suffix == "Ki" || suffix == "Mi" || suffix == "Gi" || suffix == "Ti" ||
             suffix == "Pi" || suffix == "Ei") {
    format = QFormat::kBinarySI;
    static constexpr std::string_view kBin = "KMGTPE";
    exp2 = 10 * (static_cast<int>(kBin.find(suffix[0])) + 1);
  } else if (suffix.size() == 1 &&
             std::string_view("numkMGTPE").find(suffix[0]) != std::string_view::npos) {
    static const std::pair<char, int> kSi[] = {{'n', -9}, {'u', -6}, {'m', -3}, {'k', 3}, {'M', 6},
                                               {'G', 9},  {'T', 12}, {'P', 15}, {'E', 18}};
    for (auto [c, e] : kSi) {
      if (c == suffix[0]) exp10 = e;
    }
  } else if (suffix[0] == 'e' || suffix[0] == 'E') {
    format = QFormat::kDecimalExponent;
    std::string_view ex = suffix.substr(1);
    bool eneg = false;
    if (!ex.empty() && (ex[0] == '+' || ex[0] == '-')) {
      eneg = ex[0] == '-';
      ex.remove_prefix(1);
    }
    if (ex.empty() || ex.size() > 3) return std::nullopt;
    for (char c : ex) {
      if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
      exp10 = exp10 * 10 + (c - '0');
    }
    if (eneg) exp10 = -exp10;
  } else {
    return std::nullopt;
  }
  // value = (whole + frac/10^frac_digits) * 10^exp10 * 2^exp2, in nanos, rounded up.
  // Work with numerator = whole*10^fd + frac, scale 10^-fd.
  Int128 num = whole;
  for (int k = 0; k < frac_digits; ++k) {
    num *= 10;
    if (num > kQuantityLimit * 10) return std::nullopt;
  }
  num += frac;
  int scale = exp10 + 9 - frac_digits;  // nanos = num * 10^scale * 2^exp2
  for (int k = 0; k < exp2; ++k) {
    num *= 2;
    if (num > kQuantityLimit) return std::nullopt;
  }
  bool inexact = truncated;
  while (scale > 0) {
    num *= 10;
    if (num > kQuantityLimit) return std::nullopt;
    --scale;
  }
  while (scale < 0) {
    if (num % 10 != 0) inexact = true;
    num /= 10;
    ++scale;
  }
  if (inexact) num += 1;  // Kubernetes rounds up to the nearest nano
  return Quantity(neg ? -num : num, format);
}

const Quantity* AsQuantity(const Value& v) {
  if (v.kind() != Kind::kOpaque) return nullptr;
  return dynamic_cast<const Quantity*>(v.AsOpaque().object.get());
}

Value MakeQuantity(Int128 nanos, QFormat f) {
  return Value(OpaqueValue{std::make_shared<const Quantity>(nanos, f)});
}

Value QuantityFn(EvalState&, const Expr& e, Args& a) {
  if (a.size() != 1 || a[0].kind() != Kind::kString) return NoOverload(e, a);
  auto q = ParseQuantity(a[0].AsString());
  if (!q) {
    return CallError(e, fmt::format("quantities must match the regular expression "
                                    "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$': '{}' is not a "
                                    "valid quantity",
                                    a[0].AsString()));
  }
  return Value(OpaqueValue{std::make_shared<const Quantity>(*q)});
}

Value IsQuantity(EvalState&, const Expr& e, Args& a) {
  if (a.size() != 1 || a[0].kind() != Kind::kString) return NoOverload(e, a);
  return Value(ParseQuantity(a[0].AsString()).has_value());
}

Value QSign(EvalState&, const Expr& e, Args& a) {
  const Quantity* q = a.size() == 1 ? AsQuantity(a[0]) : nullptr;
  if (!q) return NoOverload(e, a);
  return Value(static_cast<int64_t>(q->nanos() > 0 ? 1 : (q->nanos() < 0 ? -1 : 0)));
}

Value QIsInteger(EvalState&, const Expr& e, Args& a) {
  const Quantity* q = a.size() == 1 ? AsQuantity(a[0]) : nullptr;
  if (!q) return NoOverload(e, a);
  Int128 v = q->nanos() / kNano;
  return Value(q->nanos() % kNano == 0 && v <= INT64_MAX && v >= INT64_MIN);
}

Value QAsInteger(EvalState&, const Expr& e, Args& a) {
  const Quantity* q = a.size() == 1 ? AsQuantity(a[0]) : nullptr;
  if (!q) return NoOverload(e, a);
  Int128 v = q->nanos() / kNano;
  if (q->nanos() % kNano != 0 || v > INT64_MAX || v < INT64_MIN) {
    return CallError(
        e, fmt::format("cannot convert value to integer: {} is not an integer in the int64 range",
                       q->ToString()));
  }
  return Value(static_cast<int64_t>(v));
}

Value QAsFloat(EvalState&, const Expr& e, Args& a) {
  const Quantity* q = a.size() == 1 ? AsQuantity(a[0]) : nullptr;
  if (!q) return NoOverload(e, a);
  return Value(static_cast<double>(q->nanos()) / 1e9);
}

std::optional<Int128> QuantityOrIntNanos(const Value& v) {
  if (const Quantity* q = AsQuantity(v)) return q->nanos();
  if (v.kind() == Kind::kInt) return static_cast<Int128>(v.AsInt()) * kNano;
  return std::nullopt;
}

Value QAddSub(const Expr& e, Args& a, bool add) {
  const Quantity* q = a.size() == 2 ? AsQuantity(a[0]) : nullptr;
  auto other = a.size() == 2 ? QuantityOrIntNanos(a[1]) : std::nullopt;
  if (!q || !other) return NoOverload(e, a);
  Int128 r = add ? q->nanos() + *other : q->nanos() - *other;
  if (r > kQuantityLimit || r < -kQuantityLimit) return CallError(e, "quantity overflow");
  return MakeQuantity(r, q->format());
}
Value QAdd(EvalState&, const Expr& e, Args& a) { return QAddSub(e, a, true); }
Value QSub(EvalState&, const Expr& e, Args& a) { return QAddSub(e, a, false); }

// ---------------------------------------------------------------------------------------
// Semver (semver.org 2.0.0).

class Semver final : public Opaque {
 public:
  uint64_t major = 0, minor = 0, patch = 0;
  std::vector<std::string> pre;
  std::string build;

  [[nodiscard]] std::string TypeName() const override { return "kubernetes.Semver"; }
  [[nodiscard]] std::string ToString() const override {
    std::string s = fmt::format("{}.{}.{}", major, minor, patch);
    for (size_t i = 0; i < pre.size(); ++i) s += (i == 0 ? "-" : ".") + pre[i];
    if (!build.empty()) s += "+" + build;
    return s;
  }
  [[nodiscard]] bool Equals(const Opaque& other) const override {
    return Compare(static_cast<const Semver&>(other)) == 0;
  }
  [[nodiscard]] int Compare(const Semver& o) const {
    auto cmp = [](auto x, auto y) { return x < y ? -1 : (x > y ? 1 : 0); };
    if (major != o.major) return cmp(major, o.major);
    if (minor != o.minor) return cmp(minor, o.minor);
    if (patch != o.patch) return cmp(patch, o.patch);
    if (pre.empty() && o.pre.empty()) return 0;
    if (pre.empty()) return 1;  // a release ranks above its pre-releases
    if (o.pre.empty()) return -1;
    for (size_t i = 0; i < pre.size() && i < o.pre.size(); ++i) {
      const auto& x = pre[i];
      const auto& y = o.pre[i];
      bool xn = std::all_of(x.begin(), x.end(), ::isdigit);
      bool yn = std::all_of(y.begin(), y.end(), ::isdigit);
      if (xn && yn) {
        if (x.size() != y.size()) return cmp(x.size(), y.size());
        if (x != y) return cmp(x, y);
      } else if (xn != yn) {
        return xn ? -1 : 1;
      } else if (x != y) {
        return cmp(x, y);
      }
    }
    return cmp(pre.size(), o.pre.size());
  }
};

bool ParseNumericPart(std::string_view s, uint64_t* out) {
  if (s.empty() || (s.size() > 1 && s[0] == '0') || s.size() > 19) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  *out = v;
  return true;
}

bool ValidIdentChars(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-')) return false;
  }
  return true;
}

std::optional<Semver> ParseSemver(std::string s, bool normalize) {
  if (normalize) {
    if (!s.empty() && s[0] == 'v') s.erase(0, 1);
    size_t core_end = s.find_first_of("-+");
    std::string core = s.substr(0, core_end);
    std::string rest = core_end == std::string::npos ? "" : s.substr(core_end);
    int dots = static_cast<int>(std::count(core.begin(), core.end(), '.'));
    while (dots < 2) {
      core += ".0";
      ++dots;
    }
    // Strip leading zeros of numeric core parts.
    std::string fixed;
    size_t start = 0;
    for (int part = 0; part < 3; ++part) {
      size_t dot = core.find('.', start);
      std::string p =
          core.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
      while (p.size() > 1 && p[0] == '0') p.erase(0, 1);
      fixed += (part ? "." : "") + p;
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
    s = fixed + rest;
  }
  Semver v;
  size_t plus = s.find('+');
  if (plus != std::string::npos) {
    v.build = s.substr(plus + 1);
    size_t st = 0;
    while (true) {
      size_t d = v.build.find('.', st);
      if (!ValidIdentChars(std::string_view(v.build).substr(
              st, d == std::string::npos ? std::string::npos : d - st))) {
        return std::nullopt;
      }
      if (d == std::string::npos) break;
      st = d + 1;
    }
    s = s.substr(0, plus);
  }
  size_t dash = s.find('-');
  std::string core = s.substr(0, dash);
  if (dash != std::string::npos) {
    std::string pre = s.substr(dash + 1);
    size_t st = 0;
    while (true) {
      size_t d = pre.find('.', st);
      std::string id = pre.substr(st, d == std::string::npos ? std::string::npos : d - st);
      if (!ValidIdentChars(id)) return std::nullopt;
      if (std::all_of(id.begin(), id.end(), ::isdigit) && id.size() > 1 && id[0] == '0')
        return std::nullopt;
      v.pre.push_back(id);
      if (d == std::string::npos) break;
      st = d + 1;
    }
  }
  size_t d1 = core.find('.');
  if (d1 == std::string::npos) return std::nullopt;
  size_t d2 = core.find('.', d1 + 1);
  if (d2 == std::string::npos) return std::nullopt;
  if (!ParseNumericPart(std::string_view(core).substr(0, d1), &v.major) ||
      !ParseNumericPart(std::string_view(core).substr(d1 + 1, d2 - d1 - 1), &v.minor) ||
      !ParseNumericPart(std::string_view(core).substr(d2 + 1), &v.patch)) {
    return std::nullopt;
  }
  return v;
}

const Semver* AsSemver(const Value& v) {
  if (v.kind() != Kind::kOpaque) return nullptr;
  return dynamic_cast<const Semver*>(v.AsOpaque().object.get());
}

Value SemverFn(EvalState&, const Expr& e, Args& a) {
  if (a.empty() || a.size() > 2 || a[0].kind() != Kind::kString ||
      (a.size() == 2 && a[1].kind() != Kind::kBool)) {
    return NoOverload(e, a);
  }
  auto v = ParseSemver(a[0].AsString(), a.size() == 2 && a[1].AsBool());
  if (!v)
    return CallError(e,
                     fmt::format("invalid semver '{}': expected MAJOR.MINOR.PATCH such as '1.2.3'",
                                 a[0].AsString()));
  return Value(OpaqueValue{std::make_shared<const Semver>(std::move(*v))});
}

Value IsSemver(EvalState&, const Expr& e, Args& a) {
  if (a.empty() || a.size() > 2 || a[0].kind() != Kind::kString ||
      (a.size() == 2 && a[1].kind() != Kind::kBool)) {
    return NoOverload(e, a);
  }
  return Value(ParseSemver(a[0].AsString(), a.size() == 2 && a[1].AsBool()).has_value());
}

template <int Part>
Value SemverPart(EvalState&, const Expr& e, Args& a) {
  const Semver* v = a.size() == 1 ? AsSemver(a[0]) : nullptr;
  if (!v) return NoOverload(e, a);
  uint64_t r = Part == 0 ? v->major : (Part == 1 ? v->minor : v->patch);
  return Value(static_cast<int64_t>(r));
}

// Shared comparison methods for quantity and semver: returns -1/0/1 or an error value.
std::optional<int> CompareOpaque(const Value& x, const Value& y, bool* type_ok) {
  *type_ok = true;
  if (const Quantity* q = AsQuantity(x)) {
    if (const Quantity* r = AsQuantity(y)) {
      return q->nanos() < r->nanos() ? -1 : (q->nanos() > r->nanos() ? 1 : 0);
    }
  }
  if (const Semver* s = AsSemver(x)) {
    if (const Semver* r = AsSemver(y)) return s->Compare(*r);
  }
  *type_ok = false;
  return std::nullopt;
}

Value CompareTo(EvalState&, const Expr& e, Args& a) {
  bool ok = false;
  auto c = a.size() == 2 ? CompareOpaque(a[0], a[1], &ok) : std::nullopt;
  if (!ok) return NoOverload(e, a);
  return Value(static_cast<int64_t>(*c));
}
Value IsGreaterThan(EvalState&, const Expr& e, Args& a) {
  bool ok = false;
  auto c = a.size() == 2 ? CompareOpaque(a[0], a[1], &ok) : std::nullopt;
  if (!ok) return NoOverload(e, a);
  return Value(*c > 0);
}
Value IsLessThan(EvalState&, const Expr& e, Args& a) {
  bool ok = false;
  auto c = a.size() == 2 ? CompareOpaque(a[0], a[1], &ok) : std::nullopt;
  if (!ok) return NoOverload(e, a);
  return Value(*c < 0);
}

// ---------------------------------------------------------------------------------------
// IP and CIDR.

struct IpAddr {
  int family = 4;
  std::array<uint8_t, 16> bytes{};  // IPv4 uses the first 4
  [[nodiscard]] size_t size() const { return family == 4 ? 4 : 16; }
  bool operator==(const IpAddr& o) const { return family == o.family && bytes == o.bytes; }
};

std::string FormatIp(const IpAddr& ip) {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(ip.family == 4 ? AF_INET : AF_INET6, ip.bytes.data(), buf, sizeof(buf));
  return buf;
}

std::optional<IpAddr> ParseIp(const std::string& s) {
  IpAddr ip;
  if (s.find(':') == std::string::npos) {
    // Reject leading zeros (Go's netip.ParseAddr does).
    size_t st = 0;
    int parts = 0;
    while (true) {
      size_t d = s.find('.', st);
      std::string p = s.substr(st, d == std::string::npos ? std::string::npos : d - st);
      if (p.empty() || p.size() > 3 || (p.size() > 1 && p[0] == '0')) return std::nullopt;
      ++parts;
      if (d == std::string::npos) break;
      st = d + 1;
    }
    if (parts != 4) return std::nullopt;
    if (inet_pton(AF_INET, s.c_str(), ip.bytes.data()) != 1) return std::nullopt;
    ip.family = 4;
    return ip;
  }
  if (s.find('%') != std::string::npos) return std::nullopt;  // zones are not allowed
  if (inet_pton(AF_INET6, s.c_str(), ip.bytes.data()) != 1) return std::nullopt;
  ip.family = 6;
  // IPv4-mapped IPv6 addresses are not allowed (Kubernetes rejects them).
  static const uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(ip.bytes.data(), kMapped, 12) == 0 && s.find('.') != std::string::npos)
    return std::nullopt;
  return ip;
}

class IpValue final : public Opaque {
 public:
  explicit IpValue(IpAddr ip) : ip_(ip) {}
  [[nodiscard]] std::string TypeName() const override { return "net.IP"; }
  [[nodiscard]] std::string ToString() const override { return FormatIp(ip_); }
  [[nodiscard]] bool Equals(const Opaque& o) const override {
    return ip_ == static_cast<const IpValue&>(o).ip_;
  }
  [[nodiscard]] const IpAddr& ip() const { return ip_; }

 private:
  IpAddr ip_;
};

IpAddr Mask(const IpAddr& ip, int prefix) {
  IpAddr out = ip;
  for (size_t i = 0; i < ip.size(); ++i) {
    int bits = std::clamp(prefix - static_cast<int>(i) * 8, 0, 8);
    out.bytes[i] &= static_cast<uint8_t>(bits == 0 ? 0 : (0xFF << (8 - bits)) & 0xFF);
  }
  return out;
}

class CidrValue final : public Opaque {
 public:
  CidrValue(IpAddr ip, int prefix) : ip_(ip), prefix_(prefix) {}
  [[nodiscard]] std::string TypeName() const override { return "net.CIDR"; }
  [[nodiscard]] std::string ToString() const override {
    return FormatIp(ip_) + "/" + std::to_string(prefix_);
  }
  [[nodiscard]] bool Equals(const Opaque& o) const override {
    const auto& c = static_cast<const CidrValue&>(o);
    return ip_ == c.ip_ && prefix_ == c.prefix_;
  }
  [[nodiscard]] const IpAddr& ip() const { return ip_; }
  [[nodiscard]] int prefix() const { return prefix_; }
  [[nodiscard]] bool Contains(const IpAddr& other) const {
    return other.family == ip_.family && Mask(other, prefix_) == Mask(ip_, prefix_);
  }

 private:
  IpAddr ip_;
  int prefix_;
};

std::optional<CidrValue> ParseCidr(const std::string& s) {
  size_t slash = s.find('/');
  if (slash == std::string::npos) return std::nullopt;
  auto ip = ParseIp(s.substr(0, slash));
  if (!ip) return std::nullopt;
  std::string p = s.substr(slash + 1);
  if (p.empty() || p.size() > 3 || (p.size() > 1 && p[0] == '0')) return std::nullopt;
  int prefix = 0;
  for (char c : p) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    prefix = prefix * 10 + (c - '0');
  }
  if (prefix > static_cast<int>(ip->size() * 8)) return std::nullopt;
  return CidrValue(*ip, prefix);
}

const IpValue* AsIp(const Value& v) {
  return v.kind() == Kind::kOpaque ? dynamic_cast<const IpValue*>(v.AsOpaque().object.get())
                                   : nullptr;
}
const CidrValue* AsCidr(const Value& v) {
  return v.kind() == Kind::kOpaque ? dynamic_cast<const CidrValue*>(v.AsOpaque().object.get())
                                   : nullptr;
}

Value IpFn(EvalState&, const Expr& e, Args& a) {
  if (a.size() == 1) {
    if (const CidrValue* c = AsCidr(a[0]))
      return Value(OpaqueValue{std::make_shared<const IpValue>(c->ip())});
  }
  if (a.size() != 1 || a[0].kind() != Kind::kString) return NoOverload(e, a);
  auto ip = ParseIp(a[0].AsString());
  if (!ip)
    return CallError(e, fmt::format("IP Address '{}' parse error during conversion from string",
                                    a[0].AsString()));
  return Value(OpaqueValue{std::make_shared<const IpValue>(*ip)});
}

Value IsIp(EvalState&, const Expr& e, Args& a) {
  if (a.size() != 1 || a[0].kind() != Kind::kString) return NoOverload(e, a);
  return Value(ParseIp(a[0].AsString()).has_value());
}

Value IpIsCanonical(EvalState&, const Expr& e, Args& a) {
  if (a.size() != 1 || a[0].kind() != Kind::kString) return NoOverload(e, a);
  auto ip = ParseIp(a[0].AsString());
  if (!ip)
    return CallError(e, fmt::format("IP Address '{}' parse error during conversion from string",
                                    a[0].AsString()));
  return Value(FormatIp(*ip) == a[0].AsString());
}

Value Family(EvalState&, const Expr& e, Args& a) {
  const IpValue* ip = a.size() == 1 ? AsIp(a[0]) : nullptr;
  if (!ip) return NoOverload(e, a);
  return Value(static_cast<int64_t>(ip->ip().family));
}

enum class IpPred {
  kUnspecified,
  kLoopback,
  kLinkLocalMulticast,
  kLinkLocalUnicast,
  kGlobalUnicast
};

template <IpPred P>
Value IpPredicate(EvalState&, const Expr& e, Args& a) {
  const IpValue* v = a.size() == 1 ? AsIp(a[0]) : nullptr;
  if (!v) return NoOverload(e, a);
  const IpAddr& ip = v->ip();
  const auto& b = ip.bytes;
  bool v4 = ip.family == 4;
  bool unspecified = v4 ? (b[0] | b[1] | b[2] | b[3]) == 0
                        : std::all_of(b.begin(), b.end(), [](uint8_t x) { return x == 0; });
  bool loopback =
      v4 ? b[0] == 127
         : (std::all_of(b.begin(), b.begin() + 15, [](uint8_t x) { return x == 0; }) && b[15] == 1);
  bool ll_multicast =
      v4 ? (b[0] == 224 && b[1] == 0 && b[2] == 0) : (b[0] == 0xff && (b[1] & 0x0f) == 0x02);
  bool ll_unicast = v4 ? (b[0] == 169 && b[1] == 254) : (b[0] == 0xfe && (b[1] & 0xc0) == 0x80);
  bool multicast = v4 ? (b[0] & 0xf0) == 0xe0 : b[0] == 0xff;
  bool broadcast = v4 && b[0] == 255 && b[1] == 255 && b[2] == 255 && b[3] == 255;
  switch (P) {
    case IpPred::kUnspecified:
      return Value(unspecified);
    case IpPred::kLoopback:
      return Value(loopback);
    case IpPred::kLinkLocalMulticast:
      return Value(ll_multicast);
    case IpPred::kLinkLocalUnicast:
      return Value(ll_unicast);
    case IpPred::kGlobalUnicast:
      return Value(!unspecified && !loopback && !multicast && !ll_unicast && !broadcast);
  }
  return NoOverload(e, a);
}

Value CidrFn(EvalState&, const Expr& e, Args& a) {
  if (a.size() != 1 || a[0].kind() != Kind::kString) return NoOverload(e, a);
  auto c = ParseCidr(a[0].AsString());
  if (!c)
    return CallError(e,
                     fmt::format("network address '{}' parse error during conversion from string",
                                 a[0].AsString()));
  return Value(OpaqueValue{std::make_shared<const CidrValue>(*c)});
}

Value IsCidr(EvalState&, const Expr& e, Args& a) {
  if (a.size() != 1 || a[0].kind() != Kind::kString) return NoOverload(e, a);
  return Value(ParseCidr(a[0].AsString()).has_value());
}

Value ContainsIp(EvalState&, const Expr& e, Args& a) {
  const CidrValue* c = a.size() == 2 ? AsCidr(a[0]) : nullptr;
  if (!c) return NoOverload(e, a);
  if (const IpValue* ip = AsIp(a[1])) return Value(c->Contains(ip->ip()));
  if (a[1].kind() == Kind::kString) {
    auto ip = ParseIp(a[1].AsString());
    if (!ip)
      return CallError(e, fmt::format("IP Address '{}' parse error during conversion from string",
                                      a[1].AsString()));
    return Value(c->Contains(*ip));
  }
  return NoOverload(e, a);
}

Value ContainsCidr(EvalState&, const Expr& e, Args& a) {
  const CidrValue* c = a.size() == 2 ? AsCidr(a[0]) : nullptr;
  if (!c) return NoOverload(e, a);
  std::optional<CidrValue> other;
  if (const CidrValue* o = AsCidr(a[1])) {
    other = *o;
  } else if (a[1].kind() == Kind::kString) {
    other = ParseCidr(a[1].AsString());
    if (!other)
      return CallError(e,
                       fmt::format("network address '{}' parse error during conversion from string",
                                   a[1].AsString()));
  } else {
    return NoOverload(e, a);
  }
  return Value(other->prefix() >= c->prefix() && c->Contains(other->ip()));
}

Value Masked(EvalState&, const Expr& e, Args& a) {
  const CidrValue* c = a.size() == 1 ? AsCidr(a[0]) : nullptr;
  if (!c) return NoOverload(e, a);
  return Value(
      OpaqueValue{std::make_shared<const CidrValue>(Mask(c->ip(), c->prefix()), c->prefix())});
}

Value PrefixLength(EvalState&, const Expr& e, Args& a) {
  const CidrValue* c = a.size() == 1 ? AsCidr(a[0]) : nullptr;
  if (!c) return NoOverload(e, a);
  return Value(static_cast<int64_t>(c->prefix()));
}

// ---------------------------------------------------------------------------------------
// URL (Go's url.ParseRequestURI semantics: absolute URL or absolute path).

class UrlValue final : public Opaque {
 public:
  std::string raw, scheme, host, path, query;
  [[nodiscard]] std::string TypeName() const override { return "kubernetes.URL"; }
  [[nodiscard]] std::string ToString() const override { return raw; }
  [[nodiscard]] bool Equals(const Opaque& o) const override {
    return raw == static_cast<const UrlValue&>(o).raw;
  }
};

std::optional<UrlValue> ParseUrl(const std::string& s) {
  UrlValue u;
  u.raw = s;
  if (s.empty()) return std::nullopt;
  for (char c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f || c == ' ') return std::nullopt;
  }
  std::string rest = s;
  size_t hash = rest.find('#');
  if (hash != std::string::npos) return std::nullopt;  // ParseRequestURI does not allow fragments
  size_t q = rest.find('?');
  if (q != std::string::npos) {
    u.query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  if (!rest.empty() && rest[0] == '/') {
    if (rest.rfind("//", 0) == 0) {
      // Scheme-relative: host follows. ParseRequestURI treats it as a path only when it
      // cannot be an authority; keep it simple and accept it as path.
    }
    u.path = rest;
    return u;
  }
  size_t colon = rest.find(':');
  if (colon == std::string::npos || colon == 0) return std::nullopt;
  std::string scheme = rest.substr(0, colon);
  if (!std::isalpha(static_cast<unsigned char>(scheme[0]))) return std::nullopt;
  for (char c : scheme) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '.'))
      return std::nullopt;
  }
  u.scheme = scheme;
  rest = rest.substr(colon + 1);
  if (rest.rfind("//", 0) == 0) {
    rest = rest.substr(2);
    size_t slash = rest.find('/');
    std::string authority = rest.substr(0, slash);
    size_t at = authority.rfind('@');
    u.host = at == std::string::npos ? authority : authority.substr(at + 1);
    u.path = slash == std::string::npos ? "" : rest.substr(slash);
    if (!u.host.empty() && u.host[0] == '[' && u.host.find(']') == std::string::npos)
      return std::nullopt;
  } else {
    if (rest.empty() || rest[0] != '/') return std::nullopt;  // opaque URLs are not request URIs
    u.path = rest;
  }
  return u;
}

const UrlValue* AsUrl(const Value& v) {
  return v.kind() == Kind::kOpaque ? dynamic_cast<const UrlValue*>(v.AsOpaque().object.get())
                                   : nullptr;
}

Value UrlFn(EvalState&, const Expr& e, Args& a) {
  if (a.size() != 1 || a[0].kind() != Kind::kString) return NoOverload(e, a);
  auto u = ParseUrl(a[0].AsString());
  if (!u)
    return CallError(
        e, fmt::format(
               "URL parse error during conversion from string: '{}' is not an absolute URI or path",
               a[0].AsString()));
  return Value(OpaqueValue{std::make_shared<const UrlValue>(std::move(*u))});
}

Value IsUrl(EvalState&, const Expr& e, Args& a) {
  if (a.size() != 1 || a[0].kind() != Kind::kString) return NoOverload(e, a);
  return Value(ParseUrl(a[0].AsString()).has_value());
}

std::string Hostname(const std::string& host) {
  if (!host.empty() && host[0] == '[') {
    size_t close = host.find(']');
    return host.substr(1, close - 1);
  }
  size_t colon = host.rfind(':');
  return colon == std::string::npos ? host : host.substr(0, colon);
}

std::string Port(const std::string& host) {
  size_t start = 0;
  if (!host.empty() && host[0] == '[') {
    start = host.find(']');
    if (start == std::string::npos) return "";
  }
  size_t colon = host.find(':', start);
  if (colon == std::string::npos) return "";
  return host.substr(colon + 1);
}

std::string PercentDecode(std::string_view s, bool plus_space) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() + 0 &&
        std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else if (plus_space && s[i] == '+') {
      out += ' ';
    } else {
      out += s[i];
    }
  }
  return out;
}

template <int Part>
Value UrlPart(EvalState&, const Expr& e, Args& a) {
  const UrlValue* u = a.size() == 1 ? AsUrl(a[0]) : nullptr;
  if (!u) return NoOverload(e, a);
  switch (Part) {
    case 0:
      return Value(u->scheme);
    case 1:
      return Value(u->host);
    case 2:
      return Value(Hostname(u->host));
    case 3:
      return Value(Port(u->host));
    case 4:
      return Value(u->path);
    default: {
      std::vector<std::pair<Value, Value>> entries;
      std::vector<std::pair<std::string, std::vector<Value>>> groups;
      size_t st = 0;
      const std::string& q = u->query;
      while (st <= q.size() && !q.empty()) {
        size_t amp = q.find('&', st);
        std::string kv = q.substr(st, amp == std::string::npos ? std::string::npos : amp - st);
        if (!kv.empty()) {
          size_t eq = kv.find('=');
          std::string k = PercentDecode(kv.substr(0, eq), true);
          std::string v = eq == std::string::npos ? "" : PercentDecode(kv.substr(eq + 1), true);
          auto it = std::find_if(groups.begin(), groups.end(),
                                 [&](const auto& g) { return g.first == k; });
          if (it == groups.end()) {
            groups.emplace_back(k, std::vector<Value>{Value(v)});
          } else {
            it->second.emplace_back(v);
          }
        }
        if (amp == std::string::npos) break;
        st = amp + 1;
      }
      for (auto& [k, vs] : groups) entries.emplace_back(Value(k), MakeList(std::move(vs)));
      return MakeMap(std::move(entries));
    }
  }
}

}  // namespace

void RegisterKubernetesLibrary(FunctionMap& m) {
  auto member = [&](const char* n, LibFn f) { m[n] = FunctionDef{f, true, false}; };
  auto global = [&](const char* n, LibFn f) { m[n] = FunctionDef{f, false, true}; };
  global("quantity", QuantityFn);
  global("isQuantity", IsQuantity);
  member("sign", QSign);
  member("isInteger", QIsInteger);
  member("asInteger", QAsInteger);
  member("asApproximateFloat", QAsFloat);
  member("add", QAdd);
  member("sub", QSub);
  member("compareTo", CompareTo);
  member("isGreaterThan", IsGreaterThan);
  member("isLessThan", IsLessThan);
  global("semver", SemverFn);
  global("isSemver", IsSemver);
  member("major", SemverPart<0>);
  member("minor", SemverPart<1>);
  member("patch", SemverPart<2>);
  m["ip"] = FunctionDef{IpFn, true, true};
  global("isIP", IsIp);
  global("ip.isCanonical", IpIsCanonical);
  member("family", Family);
  member("isUnspecified", IpPredicate<IpPred::kUnspecified>);
  member("isLoopback", IpPredicate<IpPred::kLoopback>);
  member("isLinkLocalMulticast", IpPredicate<IpPred::kLinkLocalMulticast>);
  member("isLinkLocalUnicast", IpPredicate<IpPred::kLinkLocalUnicast>);
  member("isGlobalUnicast", IpPredicate<IpPred::kGlobalUnicast>);
  global("cidr", CidrFn);
  global("isCIDR", IsCidr);
  member("containsIP", ContainsIp);
  member("containsCIDR", ContainsCidr);
  member("masked", Masked);
  member("prefixLength", PrefixLength);
  global("url", UrlFn);
  global("isURL", IsUrl);
  member("getScheme", UrlPart<0>);
  member("getHost", UrlPart<1>);
  member("getHostname", UrlPart<2>);
  member("getPort", UrlPart<3>);
  member("getEscapedPath", UrlPart<4>);
  member("getQuery", UrlPart<5>);
}

}  // namespace tether::cel
