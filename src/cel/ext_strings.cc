// Extended strings (cel-go ext.Strings as enabled by Kubernetes), regex find/findAll, and
// string.format.
#include <fmt/format.h>
#include <re2/re2.h>

#include <cmath>

#include "cel/format_util.h"
#include "cel/library.h"
#include "common/error.h"

namespace tether::cel {

namespace {

using Args = std::vector<Value>;

// Byte offsets of each code point, plus s.size() at the end.
std::vector<size_t> CodePointOffsets(std::string_view s) {
  std::vector<size_t> out;
  out.reserve(s.size() + 1);
  for (size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) out.push_back(i);
  }
  out.push_back(s.size());
  return out;
}

bool IsStr(const Value& v) { return v.kind() == Kind::kString; }
bool IsInt(const Value& v) { return v.kind() == Kind::kInt; }

Value CharAt(EvalState&, const Expr& e, Args& a) {
  if (a.size() != 2 || !IsStr(a[0]) || !IsInt(a[1])) return NoOverload(e, a);
  const auto& s = a[0].AsString();
  auto offs = CodePointOffsets(s);
  int64_t i = a[1].AsInt();
  int64_t n = static_cast<int64_t>(offs.size()) - 1;
  if (i < 0 || i > n) return CallError(e, fmt::format("index out of range: {}", i));
  if (i == n) return Value(std::string());
  return Value(s.substr(offs[static_cast<size_t>(i)],
                        offs[static_cast<size_t>(i) + 1] - offs[static_cast<size_t>(i)]));
}

Value StringIndexOf(const Expr& e, Args& a, bool last) {
  if (a.size() < 2 || a.size() > 3 || !IsStr(a[0]) || !IsStr(a[1]) ||
      (a.size() == 3 && !IsInt(a[2]))) {
    return NoOverload(e, a);
  }
  const auto& s = a[0].AsString();
  const auto& sub = a[1].AsString();
  auto offs = CodePointOffsets(s);
  int64_t n = static_cast<int64_t>(offs.size()) - 1;
  auto to_cp = [&](size_t byte) {
    return static_cast<int64_t>(std::lower_bound(offs.begin(), offs.end(), byte) - offs.begin());
  };
  if (!last) {
    int64_t start = a.size() == 3 ? a[2].AsInt() : 0;
    if (start < 0 || start > n) return CallError(e, fmt::format("index out of range: {}", start));
    size_t pos = s.find(sub, offs[static_cast<size_t>(start)]);
    return Value(pos == std::string::npos ? int64_t{-1} : to_cp(pos));
  }
  int64_t end = a.size() == 3 ? a[2].AsInt() : n;
  if (end < 0 || end > n) return CallError(e, fmt::format("index out of range: {}", end));
  size_t pos = s.rfind(sub, offs[static_cast<size_t>(end)]);
  return Value(pos == std::string::npos ? int64_t{-1} : to_cp(pos));
}

Value LowerAscii(EvalState&, const Expr& e, Args& a) {
  if (a.size() != 1 || !IsStr(a[0])) return NoOverload(e, a);
  std::string s = a[0].AsString();
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return Value(std::move(s));
}

Value UpperAscii(EvalState&, const Expr& e, Args& a) {
  if (a.size() != 1 || !IsStr(a[0])) return NoOverload(e, a);
  std::string s = a[0].AsString();
  for (char& c : s) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return Value(std::move(s));
}

Value Replace(EvalState& st, const Expr& e, Args& a) {
  if (a.size() < 3 || a.size() > 4 || !IsStr(a[0]) || !IsStr(a[1]) || !IsStr(a[2]) ||
      (a.size() == 4 && !IsInt(a[3]))) {
    return NoOverload(e, a);
  }
  const auto& s = a[0].AsString();
  const auto& from = a[1].AsString();
  const auto& to = a[2].AsString();
  int64_t limit = a.size() == 4 ? a[3].AsInt() : -1;
  std::string out;
  int64_t count = 0;
  if (from.empty()) {
    // Go's strings.Replace with an empty old string inserts `to` around every code point.
    auto offs = CodePointOffsets(s);
    for (size_t i = 0; i + 1 < offs.size() + 1; ++i) {
      if (limit < 0 || count < limit) {
        out += to;
        ++count;
      }
      if (i + 1 < offs.size()) out += s.substr(offs[i], offs[i + 1] - offs[i]);
    }
  } else {
    size_t pos = 0;
    while (limit < 0 || count < limit) {
      size_t f = s.find(from, pos);
      if (f == std::string::npos) break;
      out.append(s, pos, f - pos);
      out += to;
      pos = f + from.size();
      ++count;
    }
    out.append(s, pos, std::string::npos);
  }
  if (!st.Charge(static_cast<int64_t>(out.size() / 10))) return st.CostError(e.position);
  return Value(std::move(out));
}

Value Split(EvalState& st, const Expr& e, Args& a) {
  if (a.size() < 2 || a.size() > 3 || !IsStr(a[0]) || !IsStr(a[1]) ||
      (a.size() == 3 && !IsInt(a[2]))) {
    return NoOverload(e, a);
  }
  const auto& s = a[0].AsString();
  const auto& sep = a[1].AsString();
  int64_t n = a.size() == 3 ? a[2].AsInt() : -1;
  std::vector<Value> out;
  if (n == 0) return MakeList({});
  if (sep.empty()) {
    auto offs = CodePointOffsets(s);
    size_t count = offs.size() - 1;
    for (size_t i = 0; i < count; ++i) {
      if (n > 0 && static_cast<int64_t>(out.size()) == n - 1) {
        out.emplace_back(s.substr(offs[i]));
        break;
      }
      out.emplace_back(s.substr(offs[i], offs[i + 1] - offs[i]));
    }
  } else {
    size_t pos = 0;
    while (true) {
      if (n > 0 && static_cast<int64_t>(out.size()) == n - 1) {
        out.emplace_back(s.substr(pos));
        break;
      }
      size_t f = s.find(sep, pos);
      if (f == std::string::npos) {
        out.emplace_back(s.substr(pos));
        break;
      }
      out.emplace_back(s.substr(pos, f - pos));
      pos = f + sep.size();
    }
  }
  if (!st.Charge(static_cast<int64_t>(out.size()))) return st.CostError(e.position);
  return MakeList(std::move(out));
}

Value Substring(EvalState&, const Expr& e, Args& a) {
  if (a.size() < 2 || a.size() > 3 || !IsStr(a[0]) || !IsInt(a[1]) ||
      (a.size() == 3 && !IsInt(a[2]))) {
    return NoOverload(e, a);
  }
  const auto& s = a[0].AsString();
  auto offs = CodePointOffsets(s);
  int64_t n = static_cast<int64_t>(offs.size()) - 1;
  int64_t start = a[1].AsInt();
  int64_t end = a.size() == 3 ? a[2].AsInt() : n;
  if (start < 0 || start > n) return CallError(e, fmt::format("index out of range: {}", start));
  if (end < 0 || end > n) return CallError(e, fmt::format("index out of range: {}", end));
  if (end < start)
    return CallError(e, fmt::format("invalid substring range. start: {}, end: {}", start, end));
  size_t b = offs[static_cast<size_t>(start)];
  return Value(s.substr(b, offs[static_cast<size_t>(end)] - b));
}

// Unicode White_Space code points (as Go's unicode.IsSpace).
bool IsUnicodeSpace(uint32_t c) {
  switch (c) {
    case '\t':
    case '\n':
    case '\v':
    case '\f':
    case '\r':
    case ' ':
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
      return true;
    default:
      return c >= 0x2000 && c <= 0x200A;
  }
}

uint32_t DecodeAt(std::string_view s, size_t b, size_t e) {
  auto c = static_cast<unsigned char>(s[b]);
  if (e - b == 1) return c;
  uint32_t cp = c & (0xFF >> (e - b + 1));
  for (size_t k = b + 1; k < e; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[k]) & 0x3F);
  return cp;
}

Value Trim(EvalState&, const Expr& e, Args& a) {
  if (a.size() != 1 || !IsStr(a[0])) return NoOverload(e, a);
  const auto& s = a[0].AsString();
  auto offs = CodePointOffsets(s);
  size_t n = offs.size() - 1;
  size_t lo = 0;
  while (lo < n && IsUnicodeSpace(DecodeAt(s, offs[lo], offs[lo + 1]))) ++lo;
  size_t hi = n;
  while (hi > lo && IsUnicodeSpace(DecodeAt(s, offs[hi - 1], offs[hi]))) --hi;
  return Value(s.substr(offs[lo], offs[hi] - offs[lo]));
}

Value Join(EvalState& st, const Expr& e, Args& a) {
  if (a.empty() || a.size() > 2 || a[0].kind() != Kind::kList || (a.size() == 2 && !IsStr(a[1]))) {
    return NoOverload(e, a);
  }
  std::string sep = a.size() == 2 ? a[1].AsString() : "";
  const auto& l = a[0].AsList();
  std::string out;
  for (size_t i = 0, n = ListSize(l); i < n; ++i) {
    Value v = ListAt(l, i);
    if (!IsStr(v)) return NoOverload(e, a);
    if (i) out += sep;
    out += v.AsString();
    if (!st.Charge(1 + static_cast<int64_t>(v.AsString().size() / 10)))
      return st.CostError(e.position);
  }
  return Value(std::move(out));
}

Value ReverseString(const Expr& e, Args& a) {
  const auto& s = a[0].AsString();
  auto offs = CodePointOffsets(s);
  std::string out;
  out.reserve(s.size());
  for (size_t i = offs.size() - 1; i > 0; --i) out.append(s, offs[i - 1], offs[i] - offs[i - 1]);
  return Value(std::move(out));
}

std::string Quote(std::string_view s) {
  std::string out = "\"";
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    switch (c) {
      case '\a':
        out += "\\a";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\v':
        out += "\\v";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      default:
        if (c < 0x80) {
          out += static_cast<char>(c);
        } else {
          // Copy valid multi-byte sequences; replace invalid bytes with U+FFFD.
          size_t n = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
          if (n == 0 || i + n > s.size() || !IsValidUtf8(s.substr(i, n))) {
            out += "\xEF\xBF\xBD";
            ++i;
            continue;
          }
          out.append(s.substr(i, n));
          i += n;
          continue;
        }
    }
    ++i;
  }
  return out + "\"";
}

Value StringsQuote(EvalState&, const Expr& e, Args& a) {
  if (a.size() != 1 || !IsStr(a[0])) return NoOverload(e, a);
  return Value(Quote(a[0].AsString()));
}

// ---- regex ----

const RE2* CompileRegex(const std::string& pattern, std::unique_ptr<RE2>* holder,
                        std::string* error) {
  RE2::Options opts;
  opts.set_log_errors(false);
  *holder = std::make_unique<RE2>(pattern, opts);
  if (!(*holder)->ok()) {
    *error = (*holder)->error();
    return nullptr;
  }
  return holder->get();
}

Value Find(EvalState& st, const Expr& e, Args& a) {
  if (a.size() != 2 || !IsStr(a[0]) || !IsStr(a[1])) return NoOverload(e, a);
  std::unique_ptr<RE2> holder;
  std::string error;
  const RE2* re = CompileRegex(a[1].AsString(), &holder, &error);
  if (!re)
    return CallError(e, fmt::format("invalid regular expression '{}': {}", a[1].AsString(), error));
  st.Charge(static_cast<int64_t>(a[0].AsString().size() / 10 + 1));
  re2::StringPiece input(a[0].AsString());
  re2::StringPiece match;
  if (!re->Match(input, 0, input.size(), RE2::UNANCHORED, &match, 1)) return Value(std::string());
  return Value(std::string(match.data(), match.size()));
}

Value FindAll(EvalState& st, const Expr& e, Args& a) {
  if (a.size() < 2 || a.size() > 3 || !IsStr(a[0]) || !IsStr(a[1]) ||
      (a.size() == 3 && !IsInt(a[2]))) {
    return NoOverload(e, a);
  }
  std::unique_ptr<RE2> holder;
  std::string error;
  const RE2* re = CompileRegex(a[1].AsString(), &holder, &error);
  if (!re)
    return CallError(e, fmt::format("invalid regular expression '{}': {}", a[1].AsString(), error));
  int64_t limit = a.size() == 3 ? a[2].AsInt() : -1;
  const std::string& s = a[0].AsString();
  std::vector<Value> out;
  size_t pos = 0;
  while (pos <= s.size() && (limit < 0 || static_cast<int64_t>(out.size()) < limit)) {
    re2::StringPiece match;
    if (!re->Match(s, pos, s.size(), RE2::UNANCHORED, &match, 1)) break;
    out.emplace_back(std::string(match.data(), match.size()));
    if (!st.Charge(1)) return st.CostError(e.position);
    size_t end = static_cast<size_t>(match.data() - s.data()) + match.size();
    pos = match.empty() ? end + 1 : end;
  }
  return MakeList(std::move(out));
}

// ---- string.format ----

Result<std::string> FormatArg(char verb, int precision, const Value& v);

Result<std::string> FormatString(const Value& v) {
  switch (v.kind()) {
    case Kind::kString:
      return v.AsString();
    case Kind::kBytes:
      return v.AsBytes().data;
    case Kind::kInt:
      return std::to_string(v.AsInt());
    case Kind::kUint:
      return std::to_string(v.AsUint());
    case Kind::kDouble: {
      double d = v.AsDouble();
      if (std::isinf(d)) return std::string(d > 0 ? "Infinity" : "-Infinity");
      return FormatDoubleGo(d);
    }
    case Kind::kBool:
      return std::string(v.AsBool() ? "true" : "false");
    case Kind::kNull:
      return std::string("null");
    case Kind::kTimestamp:
      return FormatTimestamp(v.AsTimestamp());
    case Kind::kDuration:
      return FormatDurationSeconds(v.AsDuration());
    case Kind::kType:
      return v.AsType().name;
    case Kind::kOpaque:
      return v.AsOpaque().object->ToString();
    case Kind::kList: {
      std::string out = "[";
      const auto& l = v.AsList();
      for (size_t i = 0, n = ListSize(l); i < n; ++i) {
        if (i) out += ", ";
        Value el = ListAt(l, i);
        auto s = FormatString(el);
        if (!s) return s;
        out += *s;
      }
      return out + "]";
    }
    case Kind::kMap: {
      // Sorted by key rendering, as cel-go does.
      std::vector<std::pair<std::string, std::string>> items;
      Result<std::string> err = std::string();
      MapForEach(v.AsMap(), [&](const Value& k, const Value& x) {
        auto ks = FormatString(k);
        auto vs = FormatString(x);
        if (!ks || !vs) {
          err = !ks ? ks : vs;
          return false;
        }
        items.emplace_back(*ks, *vs);
        return true;
      });
      if (!err) return err;
      std::sort(items.begin(), items.end());
      std::string out = "{";
      for (size_t i = 0; i < items.size(); ++i) {
        if (i) out += ", ";
        out += items[i].first + ": " + items[i].second;
      }
      return out + "}";
    }
    default:
      return Fail(ErrorCode::kInvalid,
                  fmt::format("string clause can only be used on strings, bools, "
                              "bytes, ints, doubles, maps, lists, types, durations, "
                              "and timestamps, was given {}",
                              TypeName(v)));
  }
}

Result<std::string> FormatArg(char verb, int precision, const Value& v) {
  switch (verb) {
    case 's':
      return FormatString(v);
    case 'd':
      if (v.kind() == Kind::kInt) return std::to_string(v.AsInt());
      if (v.kind() == Kind::kUint) return std::to_string(v.AsUint());
      if (v.kind() == Kind::kDouble && (std::isnan(v.AsDouble()) || std::isinf(v.AsDouble()))) {
        return FormatDoubleGo(v.AsDouble()) == "+Inf" ? std::string("Infinity")
               : std::isnan(v.AsDouble())             ? std::string("NaN")
                                                      : std::string("-Infinity");
      }
      return Fail(
          ErrorCode::kInvalid,
          fmt::format("decimal clause can only be used on integers, was given {}", TypeName(v)));
    case 'f':
    case 'e': {
      double d;
      if (v.kind() == Kind::kDouble) {
        d = v.AsDouble();
      } else if (v.kind() == Kind::kInt) {
        d = static_cast<double>(v.AsInt());
      } else if (v.kind() == Kind::kUint) {
        d = static_cast<double>(v.AsUint());
      } else {
        return Fail(ErrorCode::kInvalid,
                    fmt::format("{} clause can only be used on doubles, was given {}",
                                verb == 'f' ? "fixed-point" : "scientific", TypeName(v)));
      }
      if (std::isnan(d)) return std::string("NaN");
      if (std::isinf(d)) return std::string(d > 0 ? "Infinity" : "-Infinity");
      int p = precision < 0 ? 6 : precision;
      return verb == 'f' ? fmt::format("{:.{}f}", d, p) : fmt::format("{:.{}e}", d, p);
    }
    case 'x':
    case 'X': {
      std::string out;
      if (v.kind() == Kind::kInt) {
        int64_t i = v.AsInt();
        out = i < 0 ? "-" + fmt::format("{:x}", static_cast<uint64_t>(0) - static_cast<uint64_t>(i))
                    : fmt::format("{:x}", i);
      } else if (v.kind() == Kind::kUint) {
        out = fmt::format("{:x}", v.AsUint());
      } else if (v.kind() == Kind::kString || v.kind() == Kind::kBytes) {
        const std::string& s = v.kind() == Kind::kString ? v.AsString() : v.AsBytes().data;
        for (unsigned char c : s) out += fmt::format("{:02x}", c);
      } else {
        return Fail(ErrorCode::kInvalid,
                    fmt::format("only integers, byte buffers, and strings can be "
                                "formatted as hex, was given {}",
                                TypeName(v)));
      }
      if (verb == 'X') {
        for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      }
      return out;
    }
    case 'o':
      if (v.kind() == Kind::kInt) {
        int64_t i = v.AsInt();
        return i < 0
                   ? "-" + fmt::format("{:o}", static_cast<uint64_t>(0) - static_cast<uint64_t>(i))
                   : fmt::format("{:o}", i);
      }
      if (v.kind() == Kind::kUint) return fmt::format("{:o}", v.AsUint());
      return Fail(
          ErrorCode::kInvalid,
          fmt::format("octal clause can only be used on integers, was given {}", TypeName(v)));
    case 'b':
      if (v.kind() == Kind::kInt) {
        int64_t i = v.AsInt();
        return i < 0
                   ? "-" + fmt::format("{:b}", static_cast<uint64_t>(0) - static_cast<uint64_t>(i))
                   : fmt::format("{:b}", i);
      }
      if (v.kind() == Kind::kUint) return fmt::format("{:b}", v.AsUint());
      if (v.kind() == Kind::kBool) return std::string(v.AsBool() ? "1" : "0");
      return Fail(ErrorCode::kInvalid,
                  fmt::format("only integers and bools can be formatted as binary, was given {}",
                              TypeName(v)));
    default:
      return Fail(
          ErrorCode::kInvalid,
          fmt::format("could not parse formatting clause: unrecognized formatting clause \"{}\"",
                      verb));
  }
}

Value Format(EvalState& st, const Expr& e, Args& a) {
  if (a.size() != 2 || !IsStr(a[0]) || a[1].kind() != Kind::kList) return NoOverload(e, a);
  const auto& fmtstr = a[0].AsString();
  const auto& args = a[1].AsList();
  size_t nargs = ListSize(args);
  size_t next = 0;
  std::string out;
  for (size_t i = 0; i < fmtstr.size(); ++i) {
    char c = fmtstr[i];
    if (c != '%') {
      out += c;
      continue;
    }
    if (++i >= fmtstr.size())
      return CallError(e, "could not parse formatting clause: unexpected end of format string");
    if (fmtstr[i] == '%') {
      out += '%';
      continue;
    }
    int precision = -1;
    if (fmtstr[i] == '.') {
      ++i;
      precision = 0;
      while (i < fmtstr.size() && std::isdigit(static_cast<unsigned char>(fmtstr[i]))) {
        precision = precision * 10 + (fmtstr[i] - '0');
        if (precision > 1000) return CallError(e, "formatting precision too large");
        ++i;
      }
      if (i >= fmtstr.size())
        return CallError(e, "could not parse formatting clause: unexpected end of format string");
    }
    if (next >= nargs) {
      return CallError(e, fmt::format("index {} out of range", next));
    }
    auto s = FormatArg(fmtstr[i], precision, ListAt(args, next++));
    if (!s) return CallError(e, "error during formatting: " + s.error().message);
    out += *s;
  }
  if (!st.Charge(static_cast<int64_t>(out.size() / 10))) return st.CostError(e.position);
  return Value(std::move(out));
}

}  // namespace

// Dispatchers shared with the lists library (same method names, different receivers).
Value StringIndexOfFn(const Expr& e, Args& a, bool last) { return StringIndexOf(e, a, last); }
Value StringReverseFn(const Expr& e, Args& a) { return ReverseString(e, a); }

void RegisterStringsLibrary(FunctionMap& m) {
  auto member = [&](const char* n, LibFn f) { m[n] = FunctionDef{f, true, false}; };
  member("charAt", CharAt);
  member("lowerAscii", LowerAscii);
  member("upperAscii", UpperAscii);
  member("replace", Replace);
  member("split", Split);
  member("substring", Substring);
  member("trim", Trim);
  member("join", Join);
  member("format", Format);
  member("find", Find);
  member("findAll", FindAll);
  m["strings.quote"] = FunctionDef{StringsQuote, false, true};
}

}  // namespace tether::cel
