#include "kube/selector.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <set>
#include <tuple>
#include <utility>

namespace tether::kube {
namespace {

// ------------------------------------------------------------------------------- validation --

constexpr size_t kQualifiedNameMaxLength = 63;
constexpr size_t kLabelValueMaxLength = 63;
constexpr size_t kDNS1123SubdomainMaxLength = 253;

constexpr std::string_view kQualifiedNameFmt = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
constexpr std::string_view kQualifiedNameErrMsg =
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character";
constexpr std::string_view kLabelValueFmt = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
constexpr std::string_view kLabelValueErrMsg =
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character";
constexpr std::string_view kDNS1123SubdomainFmt =
    "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
constexpr std::string_view kDNS1123SubdomainErrMsg =
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character";

bool IsAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}
bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9], anchored.
bool MatchesQualifiedNamePart(std::string_view s) {
  if (s.empty() || !IsAlnum(s.front()) || !IsAlnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return IsAlnum(c) || c == '-' || c == '_' || c == '.'; });
}

// [a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*, anchored.
bool MatchesDNS1123Subdomain(std::string_view s) {
  if (s.empty()) return false;
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    std::string_view label = s.substr(start, dot == std::string_view::npos ? s.npos : dot - start);
    if (label.empty() || !IsLowerAlnum(label.front()) || !IsLowerAlnum(label.back())) {
      return false;
    }
    for (char c : label) {
      if (!IsLowerAlnum(c) && c != '-') return false;
    }
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

std::string RegexError(std::string_view msg, std::string_view regex,
                       std::initializer_list<std::string_view> examples) {
  std::string out(msg);
  if (examples.size() == 0) {
    return fmt::format("{} (regex used for validation is '{}')", msg, regex);
  }
  out += " (e.g. ";
  bool first = true;
  for (std::string_view e : examples) {
    if (!first) out += " or ";
    first = false;
    out += fmt::format("'{}', ", e);
  }
  out += fmt::format("regex used for validation is '{}')", regex);
  return out;
}

std::string MaxLenError(size_t n) { return fmt::format("must be no more than {} characters", n); }

std::string Join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out += sep;
    out += parts[i];
  }
  return out;
}

// Go's %q for the strings we print (label keys/values come from user input).
std::string GoQuote(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
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
      case '\a':
        out += "\\a";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\v':
        out += "\\v";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out += fmt::format("\\x{:02x}", c);
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
  return out;
}

// Go's %#v for a []string.
std::string GoStringSlice(const std::vector<std::string>& v) {
  std::string out = "[]string{";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i > 0) out += ", ";
    out += GoQuote(v[i]);
  }
  return out + "}";
}

Error BadRequest(std::string message) {
  Error e(ErrorCode::kInvalid, std::move(message));
  e.http_status = 400;
  e.reason = "BadRequest";
  return e;
}

// field.ErrorList.ToAggregate().Error(): one message as is, several deduplicated in "[a, b]".
std::string AggregateMessage(const std::vector<std::string>& errs) {
  if (errs.size() == 1) return errs[0];
  std::vector<std::string> unique;
  for (const auto& e : errs) {
    if (std::find(unique.begin(), unique.end(), e) == unique.end()) unique.push_back(e);
  }
  if (unique.size() == 1) return unique[0];
  return "[" + Join(unique, ", ") + "]";
}

// field.Invalid(path, <string>, detail).Error()
std::string InvalidString(std::string_view path, std::string_view value, std::string_view detail) {
  return fmt::format("{}: Invalid value: {}: {}", path, GoQuote(value), detail);
}

std::optional<int64_t> ParseInt64(std::string_view s) {
  // strconv.ParseInt(s, 10, 64): optional sign, decimal digits, no spaces.
  if (s.empty()) return std::nullopt;
  bool neg = false;
  if (s.front() == '+' || s.front() == '-') {
    neg = s.front() == '-';
    s.remove_prefix(1);
  }
  if (s.empty()) return std::nullopt;
  uint64_t magnitude = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), magnitude);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  constexpr uint64_t kMaxPos = static_cast<uint64_t>(INT64_MAX);
  if (!neg && magnitude > kMaxPos) return std::nullopt;
  if (neg && magnitude > kMaxPos + 1) return std::nullopt;
  if (neg) return magnitude == kMaxPos + 1 ? INT64_MIN : -static_cast<int64_t>(magnitude);
  return static_cast<int64_t>(magnitude);
}

// ----------------------------------------------------------------------------- label lexer --

enum class Token {
  kError,
  kEndOfString,
  kClosedPar,
  kComma,
  kDoesNotExist,
  kDoubleEquals,
  kEquals,
  kGreaterThan,
  kIdentifier,
  kIn,
  kLessThan,
  kNotEquals,
  kNotIn,
  kOpenPar,
};

std::optional<Token> KeywordToken(std::string_view s) {
  if (s == ")") return Token::kClosedPar;
  if (s == ",") return Token::kComma;
  if (s == "!") return Token::kDoesNotExist;
  if (s == "==") return Token::kDoubleEquals;
  if (s == "=") return Token::kEquals;
  if (s == ">") return Token::kGreaterThan;
  if (s == "in") return Token::kIn;
  if (s == "<") return Token::kLessThan;
  if (s == "!=") return Token::kNotEquals;
  if (s == "notin") return Token::kNotIn;
  if (s == "(") return Token::kOpenPar;
  return std::nullopt;
}

bool IsWhitespace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
bool IsSpecialSymbol(char c) {
  return c == '=' || c == '!' || c == '(' || c == ')' || c == ',' || c == '>' || c == '<';
}

struct Scanned {
  Token tok;
  std::string literal;
};

// Mirrors apimachinery's labels.Lexer byte for byte, including treating a NUL byte as the end
// of the current token.
class Lexer {
 public:
  explicit Lexer(std::string_view s) : s_(s) {}

  Scanned Lex() {
    char ch = Read();
    while (IsWhitespace(ch)) ch = Read();
    if (ch == 0) return {Token::kEndOfString, ""};
    Unread();
    if (IsSpecialSymbol(ch)) return ScanSpecialSymbol();
    return ScanIdOrKeyword();
  }

 private:
  char Read() {
    // Like Go's lexer: the end reads as 0 without advancing; a NUL byte also reads as 0.
    if (pos_ < s_.size()) return s_[pos_++];
    return 0;
  }
  void Unread() { --pos_; }

  Scanned ScanIdOrKeyword() {
    std::string buffer;
    while (true) {
      char ch = Read();
      if (ch == 0) break;
      if (IsSpecialSymbol(ch) || IsWhitespace(ch)) {
        Unread();
        break;
      }
      buffer += ch;
    }
    if (auto tok = KeywordToken(buffer)) return {*tok, buffer};
    return {Token::kIdentifier, buffer};
  }

  Scanned ScanSpecialSymbol() {
    std::optional<Scanned> last;
    std::string buffer;
    while (true) {
      char ch = Read();
      if (ch == 0) break;
      if (!IsSpecialSymbol(ch)) {
        Unread();
        break;
      }
      buffer += ch;
      if (auto tok = KeywordToken(buffer)) {
        last = Scanned{*tok, buffer};
      } else if (last) {
        Unread();
        break;
      }
    }
    if (!last) {
      return {Token::kError, fmt::format("error expected: keyword found '{}'", buffer)};
    }
    return *last;
  }

  std::string_view s_;
  size_t pos_ = 0;
};

// ---------------------------------------------------------------------------- label parser --

enum class Context { kKeyAndOperator, kValues };

class Parser {
 public:
  explicit Parser(std::string_view s) {
    Lexer lexer(s);
    while (true) {
      Scanned item = lexer.Lex();
      bool end = item.tok == Token::kEndOfString;
      items_.push_back(std::move(item));
      if (end) break;
    }
  }

  // Returns the requirements or the exact kube error message.
  tl::expected<std::vector<LabelRequirement>, std::string> Parse() {
    std::vector<LabelRequirement> requirements;
    while (true) {
      auto [tok, lit] = Lookahead(Context::kValues);
      switch (tok) {
        case Token::kIdentifier:
        case Token::kDoesNotExist: {
          auto r = ParseRequirement();
          if (!r) return tl::unexpected("unable to parse requirement: " + r.error());
          requirements.push_back(std::move(*r));
          auto [t, l] = Consume(Context::kValues);
          if (t == Token::kEndOfString) return requirements;
          if (t == Token::kComma) {
            auto [t2, l2] = Lookahead(Context::kValues);
            if (t2 != Token::kIdentifier && t2 != Token::kDoesNotExist) {
              return tl::unexpected(fmt::format("found '{}', expected: identifier after ','", l2));
            }
            break;
          }
          return tl::unexpected(fmt::format("found '{}', expected: ',' or 'end of string'", l));
        }
        case Token::kEndOfString:
          return requirements;
        default:
          return tl::unexpected(
              fmt::format("found '{}', expected: !, identifier, or 'end of string'", lit));
      }
    }
  }

 private:
  static Token InContext(Token tok, Context ctx) {
    if (ctx == Context::kValues && (tok == Token::kIn || tok == Token::kNotIn)) {
      return Token::kIdentifier;
    }
    return tok;
  }
  std::pair<Token, std::string> Lookahead(Context ctx) const {
    const Scanned& s = items_[std::min(pos_, items_.size() - 1)];
    return {InContext(s.tok, ctx), s.literal};
  }
  std::pair<Token, std::string> Consume(Context ctx) {
    const Scanned& s = items_[std::min(pos_, items_.size() - 1)];
    ++pos_;
    return {InContext(s.tok, ctx), s.literal};
  }

  tl::expected<LabelRequirement, std::string> ParseRequirement() {
    std::optional<LabelOperator> op;
    auto [tok, key] = Consume(Context::kValues);
    if (tok == Token::kDoesNotExist) {
      op = LabelOperator::kDoesNotExist;
      std::tie(tok, key) = Consume(Context::kValues);
    }
    if (tok != Token::kIdentifier) {
      return tl::unexpected(fmt::format("found '{}', expected: identifier", key));
    }
    if (auto errs = IsQualifiedName(key); !errs.empty()) {
      return tl::unexpected(InvalidString("<nil>", key, Join(errs, "; ")));
    }
    auto [next, unused] = Lookahead(Context::kValues);
    if ((next == Token::kEndOfString || next == Token::kComma) && !op) {
      op = LabelOperator::kExists;
    }
    if (op) return MakeRequirement(std::move(key), *op, {});

    auto [optok, oplit] = Consume(Context::kKeyAndOperator);
    LabelOperator binary;
    switch (optok) {
      case Token::kIn:
        binary = LabelOperator::kIn;
        break;
      case Token::kEquals:
        binary = LabelOperator::kEquals;
        break;
      case Token::kDoubleEquals:
        binary = LabelOperator::kDoubleEquals;
        break;
      case Token::kGreaterThan:
        binary = LabelOperator::kGreaterThan;
        break;
      case Token::kLessThan:
        binary = LabelOperator::kLessThan;
        break;
      case Token::kNotIn:
        binary = LabelOperator::kNotIn;
        break;
      case Token::kNotEquals:
        binary = LabelOperator::kNotEquals;
        break;
      default:
        return tl::unexpected(
            fmt::format("found '{}', expected: in, notin, =, ==, !=, gt, lt", oplit));
    }
    tl::expected<std::vector<std::string>, std::string> values;
    if (binary == LabelOperator::kIn || binary == LabelOperator::kNotIn) {
      values = ParseValues();
    } else {
      values = ParseExactValue();
    }
    if (!values) return tl::unexpected(values.error());
    return MakeRequirement(std::move(key), binary, std::move(*values));
  }

  static tl::expected<LabelRequirement, std::string> MakeRequirement(
      std::string key, LabelOperator op, std::vector<std::string> values) {
    auto r = LabelRequirement::Make(std::move(key), op, std::move(values));
    if (!r) return tl::unexpected(r.error().message);
    return std::move(*r);
  }

  tl::expected<std::vector<std::string>, std::string> ParseValues() {
    auto [tok, lit] = Consume(Context::kValues);
    if (tok != Token::kOpenPar) {
      return tl::unexpected(fmt::format("found '{}' expected: '('", lit));
    }
    std::tie(tok, lit) = Lookahead(Context::kValues);
    switch (tok) {
      case Token::kIdentifier:
      case Token::kComma: {
        auto values = ParseIdentifiersList();
        if (!values) return values;
        if (Consume(Context::kValues).first != Token::kClosedPar) {
          return tl::unexpected(fmt::format("found '{}', expected: ')'", lit));
        }
        return values;
      }
      case Token::kClosedPar:
        Consume(Context::kValues);
        return std::vector<std::string>{""};
      default:
        return tl::unexpected(fmt::format("found '{}', expected: ',', ')' or identifier", lit));
    }
  }

  tl::expected<std::vector<std::string>, std::string> ParseIdentifiersList() {
    std::set<std::string> values;
    while (true) {
      auto [tok, lit] = Consume(Context::kValues);
      switch (tok) {
        case Token::kIdentifier: {
          values.insert(lit);
          auto [tok2, lit2] = Lookahead(Context::kValues);
          if (tok2 == Token::kComma) continue;
          if (tok2 == Token::kClosedPar)
            return std::vector<std::string>(values.begin(), values.end());
          return tl::unexpected(fmt::format("found '{}', expected: ',' or ')'", lit2));
        }
        case Token::kComma: {
          if (values.empty()) values.insert("");  // "(,"
          auto [tok2, unused] = Lookahead(Context::kValues);
          if (tok2 == Token::kClosedPar) {
            values.insert("");  // ",)"
            return std::vector<std::string>(values.begin(), values.end());
          }
          if (tok2 == Token::kComma) {
            Consume(Context::kValues);
            values.insert("");  // ",,"
          }
          break;
        }
        default:
          return tl::unexpected(fmt::format("found '{}', expected: ',', or identifier", lit));
      }
    }
  }

  tl::expected<std::vector<std::string>, std::string> ParseExactValue() {
    auto [tok, unused] = Lookahead(Context::kValues);
    if (tok == Token::kEndOfString || tok == Token::kComma) return std::vector<std::string>{""};
    auto [tok2, lit] = Consume(Context::kValues);
    if (tok2 == Token::kIdentifier) return std::vector<std::string>{lit};
    return tl::unexpected(fmt::format("found '{}', expected: identifier", lit));
  }

  std::vector<Scanned> items_;
  size_t pos_ = 0;
};

void SortByKey(std::vector<LabelRequirement>& reqs) {
  std::stable_sort(
      reqs.begin(), reqs.end(),
      [](const LabelRequirement& a, const LabelRequirement& b) { return a.key < b.key; });
}

// Looks a label up in either representation.
template <typename Lookup>
bool RequirementMatches(const LabelRequirement& r, Lookup&& lookup) {
  const std::string* v = lookup(r.key);
  auto has_value = [&](const std::string& s) {
    return std::binary_search(r.values.begin(), r.values.end(), s);
  };
  switch (r.op) {
    case LabelOperator::kIn:
    case LabelOperator::kEquals:
    case LabelOperator::kDoubleEquals:
      return v != nullptr && has_value(*v);
    case LabelOperator::kNotIn:
    case LabelOperator::kNotEquals:
      return v == nullptr || !has_value(*v);
    case LabelOperator::kExists:
      return v != nullptr;
    case LabelOperator::kDoesNotExist:
      return v == nullptr;
    case LabelOperator::kGreaterThan:
    case LabelOperator::kLessThan: {
      if (v == nullptr || r.values.size() != 1) return false;
      auto have = ParseInt64(*v);
      auto want = ParseInt64(r.values[0]);
      if (!have || !want) return false;
      return r.op == LabelOperator::kGreaterThan ? *have > *want : *have < *want;
    }
  }
  return false;
}

}  // namespace

// ------------------------------------------------------------------------------ validation --

std::vector<std::string> IsDNS1123Subdomain(std::string_view value) {
  std::vector<std::string> errs;
  if (value.size() > kDNS1123SubdomainMaxLength) {
    errs.push_back(MaxLenError(kDNS1123SubdomainMaxLength));
  }
  if (!MatchesDNS1123Subdomain(value)) {
    errs.push_back(RegexError(kDNS1123SubdomainErrMsg, kDNS1123SubdomainFmt, {"example.com"}));
  }
  return errs;
}

std::vector<std::string> IsQualifiedName(std::string_view value) {
  std::vector<std::string> errs;
  std::string_view name = value;
  size_t slashes = std::count(value.begin(), value.end(), '/');
  if (slashes > 1) {
    errs.push_back(
        "a qualified name " +
        RegexError(kQualifiedNameErrMsg, kQualifiedNameFmt, {"MyName", "my.name", "123-abc"}) +
        " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')");
    return errs;
  }
  if (slashes == 1) {
    size_t slash = value.find('/');
    std::string_view prefix = value.substr(0, slash);
    name = value.substr(slash + 1);
    if (prefix.empty()) {
      errs.push_back("prefix part must be non-empty");
    } else {
      for (auto& m : IsDNS1123Subdomain(prefix)) errs.push_back("prefix part " + m);
    }
  }
  if (name.empty()) {
    errs.push_back("name part must be non-empty");
  } else if (name.size() > kQualifiedNameMaxLength) {
    errs.push_back("name part " + MaxLenError(kQualifiedNameMaxLength));
  }
  if (!MatchesQualifiedNamePart(name)) {
    errs.push_back("name part " + RegexError(kQualifiedNameErrMsg, kQualifiedNameFmt,
                                             {"MyName", "my.name", "123-abc"}));
  }
  return errs;
}

std::vector<std::string> IsValidLabelValue(std::string_view value) {
  std::vector<std::string> errs;
  if (value.size() > kLabelValueMaxLength) errs.push_back(MaxLenError(kLabelValueMaxLength));
  if (!value.empty() && !MatchesQualifiedNamePart(value)) {
    errs.push_back(RegexError(kLabelValueErrMsg, kLabelValueFmt, {"MyValue", "my_value", "12345"}));
  }
  return errs;
}

// ------------------------------------------------------------------------ LabelRequirement --

Result<LabelRequirement> LabelRequirement::Make(std::string key, LabelOperator op,
                                                std::vector<std::string> values) {
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());

  std::vector<std::string> errs;
  if (auto e = IsQualifiedName(key); !e.empty()) {
    errs.push_back(InvalidString("key", key, Join(e, "; ")));
  }
  switch (op) {
    case LabelOperator::kIn:
    case LabelOperator::kNotIn:
      if (values.empty()) {
        errs.push_back(fmt::format(
            "values: Invalid value: {}: for 'in', 'notin' operators, values set can't be empty",
            GoStringSlice(values)));
      }
      break;
    case LabelOperator::kEquals:
    case LabelOperator::kDoubleEquals:
    case LabelOperator::kNotEquals:
      if (values.size() != 1) {
        errs.push_back(fmt::format(
            "values: Invalid value: {}: exact-match compatibility requires one single value",
            GoStringSlice(values)));
      }
      break;
    case LabelOperator::kExists:
    case LabelOperator::kDoesNotExist:
      if (!values.empty()) {
        errs.push_back(fmt::format(
            "values: Invalid value: {}: values set must be empty for exists and does not exist",
            GoStringSlice(values)));
      }
      break;
    case LabelOperator::kGreaterThan:
    case LabelOperator::kLessThan:
      if (values.size() != 1) {
        errs.push_back(fmt::format(
            "values: Invalid value: {}: for 'Gt', 'Lt' operators, exactly one value is required",
            GoStringSlice(values)));
      }
      for (size_t i = 0; i < values.size(); ++i) {
        if (!ParseInt64(values[i])) {
          errs.push_back(InvalidString(fmt::format("values[{}]", i), values[i],
                                       "for 'Gt', 'Lt' operators, the value must be an integer"));
        }
      }
      break;
  }
  for (size_t i = 0; i < values.size(); ++i) {
    if (auto e = IsValidLabelValue(values[i]); !e.empty()) {
      errs.push_back(
          InvalidString(fmt::format("values[{}][{}]", i, key), values[i], Join(e, "; ")));
    }
  }
  if (!errs.empty()) return Fail(BadRequest(AggregateMessage(errs)));
  LabelRequirement r;
  r.key = std::move(key);
  r.op = op;
  r.values = std::move(values);
  return r;
}

bool LabelRequirement::Matches(const Labels& labels) const {
  return RequirementMatches(*this, [&](const std::string& k) -> const std::string* {
    auto it = labels.find(k);
    return it == labels.end() ? nullptr : &it->second;
  });
}

std::string LabelRequirement::String() const {
  std::string out;
  if (op == LabelOperator::kDoesNotExist) out += '!';
  out += key;
  switch (op) {
    case LabelOperator::kEquals:
      out += '=';
      break;
    case LabelOperator::kDoubleEquals:
      out += "==";
      break;
    case LabelOperator::kNotEquals:
      out += "!=";
      break;
    case LabelOperator::kIn:
      out += " in ";
      break;
    case LabelOperator::kNotIn:
      out += " notin ";
      break;
    case LabelOperator::kGreaterThan:
      out += '>';
      break;
    case LabelOperator::kLessThan:
      out += '<';
      break;
    case LabelOperator::kExists:
    case LabelOperator::kDoesNotExist:
      return out;
  }
  bool set = op == LabelOperator::kIn || op == LabelOperator::kNotIn;
  if (set) out += '(';
  out += Join(values, ",");
  if (set) out += ')';
  return out;
}

// --------------------------------------------------------------------------- LabelSelector --

LabelSelector LabelSelector::Nothing() {
  LabelSelector s;
  s.nothing_ = true;
  return s;
}

Result<LabelSelector> LabelSelector::Parse(std::string_view selector) {
  Parser parser(selector);
  auto reqs = parser.Parse();
  if (!reqs) return Fail(BadRequest(std::move(reqs.error())));
  LabelSelector s;
  s.requirements_ = std::move(*reqs);
  SortByKey(s.requirements_);
  return s;
}

Result<LabelSelector> LabelSelector::FromLabels(const Labels& labels) {
  LabelSelector s;
  for (const auto& [k, v] : labels) {
    auto r = LabelRequirement::Make(k, LabelOperator::kEquals, {v});
    if (!r) return Fail(r.error());
    s.requirements_.push_back(std::move(*r));
  }
  return s;
}

Result<LabelSelector> LabelSelector::FromJson(const Json& json) {
  if (json.is_null()) return Nothing();
  if (!json.is_object()) {
    return Fail(BadRequest(fmt::format(
        "label selector must be a JSON object with matchLabels and/or matchExpressions, got {}",
        json.type_name())));
  }
  LabelSelector s;
  if (auto it = json.find("matchLabels"); it != json.end() && !it->is_null()) {
    if (!it->is_object()) {
      return Fail(BadRequest("matchLabels: must be an object of label key to string value"));
    }
    for (const auto& [k, v] : it->items()) {
      if (!v.is_string()) {
        return Fail(
            BadRequest(fmt::format("matchLabels.{}: must be a string, got {}", k, v.type_name())));
      }
      auto r = LabelRequirement::Make(k, LabelOperator::kEquals, {v.get<std::string>()});
      if (!r) return Fail(r.error());
      s.requirements_.push_back(std::move(*r));
    }
  }
  if (auto it = json.find("matchExpressions"); it != json.end() && !it->is_null()) {
    if (!it->is_array()) return Fail(BadRequest("matchExpressions: must be a list"));
    for (size_t i = 0; i < it->size(); ++i) {
      const Json& expr = (*it)[i];
      if (!expr.is_object()) {
        return Fail(BadRequest(fmt::format("matchExpressions[{}]: must be an object", i)));
      }
      std::string key = expr.contains("key") && expr["key"].is_string()
                            ? expr["key"].get<std::string>()
                            : std::string();
      std::string op_name = expr.contains("operator") && expr["operator"].is_string()
                                ? expr["operator"].get<std::string>()
                                : std::string();
      LabelOperator op;
      if (op_name == "In") {
        op = LabelOperator::kIn;
      } else if (op_name == "NotIn") {
        op = LabelOperator::kNotIn;
      } else if (op_name == "Exists") {
        op = LabelOperator::kExists;
      } else if (op_name == "DoesNotExist") {
        op = LabelOperator::kDoesNotExist;
      } else {
        return Fail(
            BadRequest(fmt::format("{} is not a valid label selector operator", GoQuote(op_name))));
      }
      std::vector<std::string> values;
      if (auto v = expr.find("values"); v != expr.end() && !v->is_null()) {
        if (!v->is_array()) {
          return Fail(BadRequest(fmt::format("matchExpressions[{}].values: must be a list", i)));
        }
        for (const auto& item : *v) {
          if (!item.is_string()) {
            return Fail(BadRequest(
                fmt::format("matchExpressions[{}].values: must be a list of strings", i)));
          }
          values.push_back(item.get<std::string>());
        }
      }
      auto r = LabelRequirement::Make(std::move(key), op, std::move(values));
      if (!r) return Fail(r.error());
      s.requirements_.push_back(std::move(*r));
    }
  }
  SortByKey(s.requirements_);
  return s;
}

bool LabelSelector::Matches(const Labels& labels) const {
  if (nothing_) return false;
  return std::all_of(requirements_.begin(), requirements_.end(),
                     [&](const LabelRequirement& r) { return r.Matches(labels); });
}

bool LabelSelector::MatchesJson(const Json& labels) const {
  if (nothing_) return false;
  const bool is_object = labels.is_object();
  return std::all_of(requirements_.begin(), requirements_.end(), [&](const LabelRequirement& r) {
    return RequirementMatches(r, [&](const std::string& k) -> const std::string* {
      if (!is_object) return nullptr;
      auto it = labels.find(k);
      if (it == labels.end() || !it->is_string()) return nullptr;
      return it->get_ptr<const std::string*>();
    });
  });
}

bool LabelSelector::MatchesObject(const Json& object) const {
  static const Json kNull;
  if (!object.is_object()) return MatchesJson(kNull);
  auto md = object.find("metadata");
  if (md == object.end() || !md->is_object()) return MatchesJson(kNull);
  auto labels = md->find("labels");
  return MatchesJson(labels == md->end() ? kNull : *labels);
}

std::string LabelSelector::String() const {
  std::vector<std::string> parts;
  parts.reserve(requirements_.size());
  for (const auto& r : requirements_) parts.push_back(r.String());
  return Join(parts, ",");
}

Result<Json> LabelSelector::ToJson() const {
  if (nothing_) {
    return Fail(ErrorCode::kInvalid,
                "LabelSelector::ToJson: the Nothing() selector has no JSON form (it is a null "
                "selector); check IsNothing() first");
  }
  Json out = Json::object();
  for (const auto& r : requirements_) {
    switch (r.op) {
      case LabelOperator::kEquals:
      case LabelOperator::kDoubleEquals:
        out["matchLabels"][r.key] = r.values.at(0);
        break;
      case LabelOperator::kIn:
      case LabelOperator::kNotIn:
      case LabelOperator::kNotEquals:
        out["matchExpressions"].push_back(
            {{"key", r.key},
             {"operator", r.op == LabelOperator::kIn ? "In" : "NotIn"},
             {"values", r.values}});
        break;
      case LabelOperator::kExists:
      case LabelOperator::kDoesNotExist:
        out["matchExpressions"].push_back(
            {{"key", r.key},
             {"operator", r.op == LabelOperator::kExists ? "Exists" : "DoesNotExist"}});
        break;
      case LabelOperator::kGreaterThan:
      case LabelOperator::kLessThan:
        return Fail(
            BadRequest(fmt::format("{} isn't supported in label selectors",
                                   GoQuote(r.op == LabelOperator::kGreaterThan ? "gt" : "lt"))));
    }
  }
  return out;
}

// --------------------------------------------------------------------------- field selectors --

std::string EscapeFieldValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\' || c == ',' || c == '=') out += '\\';
    out += c;
  }
  return out;
}

Result<std::string> UnescapeFieldValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  bool in_slash = false;
  for (size_t i = 0; i < value.size(); ++i) {
    char c = value[i];
    if (in_slash) {
      if (c != '\\' && c != ',' && c != '=') {
        // Go prints the escape sequence as runes; reproduce the whole UTF-8 character.
        size_t len = 1;
        unsigned char u = static_cast<unsigned char>(c);
        if (u >= 0xF0) {
          len = 4;
        } else if (u >= 0xE0) {
          len = 3;
        } else if (u >= 0xC0) {
          len = 2;
        }
        return Fail(BadRequest(fmt::format("invalid field selector: invalid escape sequence: \\{}",
                                           value.substr(i, len))));
      }
      out += c;
      in_slash = false;
      continue;
    }
    if (c == '\\') {
      in_slash = true;
    } else if (c == ',' || c == '=') {
      // Go formats the rune with %v, i.e. as its code point number.
      return Fail(BadRequest(
          fmt::format("invalid field selector: unescaped character in value: {}", int{c})));
    } else {
      out += c;
    }
  }
  if (in_slash) return Fail(BadRequest("invalid field selector: invalid escape sequence: \\"));
  return out;
}

std::string FieldRequirement::String() const {
  return field + (negated ? "!=" : "=") + EscapeFieldValue(value);
}

Result<FieldSelector> FieldSelector::Parse(std::string_view selector) {
  // Split on unescaped commas, keeping escapes in the terms.
  std::vector<std::string> terms;
  if (!selector.empty()) {
    size_t start = 0;
    bool in_slash = false;
    for (size_t i = 0; i < selector.size(); ++i) {
      char c = selector[i];
      if (in_slash) {
        in_slash = false;
      } else if (c == '\\') {
        in_slash = true;
      } else if (c == ',') {
        terms.emplace_back(selector.substr(start, i - start));
        start = i + 1;
      }
    }
    terms.emplace_back(selector.substr(start));
  }
  std::sort(terms.begin(), terms.end());

  FieldSelector out;
  for (const std::string& term : terms) {
    if (term.empty()) continue;
    // The first operator occurrence splits (no escaping on the left-hand side); "!=" and "=="
    // are tried before "=" at each position.
    std::optional<FieldRequirement> req;
    std::string rhs;
    for (size_t i = 0; i < term.size() && !req; ++i) {
      std::string_view rest = std::string_view(term).substr(i);
      for (std::string_view op : {"!=", "==", "="}) {
        if (rest.substr(0, op.size()) == op) {
          req = FieldRequirement{term.substr(0, i), op == "!=", ""};
          rhs = term.substr(i + op.size());
          break;
        }
      }
    }
    if (!req) {
      return Fail(
          BadRequest(fmt::format("invalid selector: '{}'; can't understand '{}'", selector, term)));
    }
    auto value = UnescapeFieldValue(rhs);
    if (!value) return Fail(value.error());
    req->value = std::move(*value);
    out.requirements_.push_back(std::move(*req));
  }
  return out;
}

Result<FieldSelector> FieldSelector::ForKind(
    std::string_view group, std::string_view kind, bool is_custom_resource, bool cluster_scoped,
    const std::vector<std::string>& selectable_fields) const {
  FieldSelector out = *this;
  for (auto& r : out.requirements_) {
    auto label = ConvertFieldLabel(group, kind, r.field, is_custom_resource, cluster_scoped,
                                   selectable_fields);
    if (!label) return Fail(label.error());
    r.field = std::move(*label);
  }
  return out;
}

bool FieldSelector::Matches(const Json& object) const {
  return std::all_of(requirements_.begin(), requirements_.end(), [&](const FieldRequirement& r) {
    return (SelectableFieldValue(object, r.field) == r.value) != r.negated;
  });
}

std::string FieldSelector::String() const {
  std::vector<std::string> parts;
  parts.reserve(requirements_.size());
  for (const auto& r : requirements_) parts.push_back(r.String());
  return Join(parts, ",");
}

bool operator==(const FieldSelector& a, const FieldSelector& b) {
  if (a.requirements_.size() != b.requirements_.size()) return false;
  auto sorted = [](std::vector<FieldRequirement> v) {
    std::sort(v.begin(), v.end(), [](const FieldRequirement& x, const FieldRequirement& y) {
      return std::tie(x.field, x.negated, x.value) < std::tie(y.field, y.negated, y.value);
    });
    return v;
  };
  return sorted(a.requirements_) == sorted(b.requirements_);
}

std::optional<std::string> FieldSelector::RequiresExactMatch(std::string_view field) const {
  for (const auto& r : requirements_) {
    if (!r.negated && r.field == field) return r.value;
  }
  return std::nullopt;
}

Result<std::string> ConvertFieldLabel(std::string_view group, std::string_view kind,
                                      std::string_view label, bool is_custom_resource,
                                      bool cluster_scoped,
                                      const std::vector<std::string>& selectable_fields) {
  auto not_supported = [&] {
    return Fail(BadRequest(fmt::format("field label not supported: {}", label)));
  };
  auto one_of = [&](std::initializer_list<std::string_view> allowed) {
    return std::find(allowed.begin(), allowed.end(), label) != allowed.end();
  };
  if (is_custom_resource) {
    if (label == "metadata.name") return std::string(label);
    if (!cluster_scoped && label == "metadata.namespace") return std::string(label);
    for (const auto& f : selectable_fields) {
      std::string_view path = f;
      if (!path.empty() && path.front() == '.') path.remove_prefix(1);
      if (path == label) return std::string(label);
    }
    return not_supported();
  }
  if (group.empty()) {
    if (kind == "Pod") {
      if (label == "spec.host") return std::string("spec.nodeName");
      if (one_of({"metadata.name", "metadata.namespace", "spec.nodeName", "spec.restartPolicy",
                  "spec.schedulerName", "spec.serviceAccountName", "spec.hostNetwork",
                  "status.phase", "status.podIP", "status.podIPs", "status.nominatedNodeName"})) {
        return std::string(label);
      }
      return not_supported();
    }
    if (kind == "Event") {
      if (one_of({"involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
                  "involvedObject.uid", "involvedObject.apiVersion",
                  "involvedObject.resourceVersion", "involvedObject.fieldPath", "reason",
                  "reportingComponent", "source", "type", "metadata.namespace", "metadata.name"})) {
        return std::string(label);
      }
      return not_supported();
    }
    if (kind == "Secret") {
      if (one_of({"type", "metadata.namespace", "metadata.name"})) return std::string(label);
      return not_supported();
    }
    if (kind == "Namespace") {
      if (one_of({"status.phase", "metadata.name"})) return std::string(label);
      return not_supported();
    }
    if (kind == "Node") {
      if (one_of({"metadata.name", "spec.unschedulable"})) return std::string(label);
      return not_supported();
    }
    if (kind == "ReplicationController") {
      if (one_of({"metadata.name", "metadata.namespace", "status.replicas"})) {
        return std::string(label);
      }
      return not_supported();
    }
  } else if (group == "apps" && kind == "ReplicaSet") {
    if (one_of({"metadata.name", "metadata.namespace", "status.replicas"})) {
      return std::string(label);
    }
    return not_supported();
  } else if (group == "batch" && kind == "Job") {
    if (one_of({"metadata.name", "metadata.namespace", "status.successful"})) {
      return std::string(label);
    }
    return not_supported();
  } else if (group == "certificates.k8s.io" && kind == "CertificateSigningRequest") {
    if (one_of({"metadata.name", "spec.signerName"})) return std::string(label);
    return not_supported();
  }
  // runtime.DefaultMetaV1FieldSelectorConversion
  if (label == "metadata.name" || label == "metadata.namespace") return std::string(label);
  return Fail(
      BadRequest(fmt::format("{} is not a known field selector: only \"metadata.name\", "
                             "\"metadata.namespace\"",
                             GoQuote(label))));
}

std::string SelectableFieldValue(const Json& object, std::string_view field) {
  if (!object.is_object()) return "";
  const std::string kind = object.contains("kind") && object["kind"].is_string()
                               ? object["kind"].get<std::string>()
                               : "";
  const std::string api_version = object.contains("apiVersion") && object["apiVersion"].is_string()
                                      ? object["apiVersion"].get<std::string>()
                                      : "";
  std::string path(field);
  if (kind == "Pod" && api_version == "v1") {
    if (field == "spec.hostNetwork") {
      const Json* spec = object.contains("spec") ? &object["spec"] : nullptr;
      bool host = spec && spec->is_object() && spec->contains("hostNetwork") &&
                  (*spec)["hostNetwork"].is_boolean() && (*spec)["hostNetwork"].get<bool>();
      return host ? "true" : "false";
    }
    if (field == "status.podIP") {
      // kube-apiserver indexes the first entry of status.podIPs.
      const Json* status = object.contains("status") ? &object["status"] : nullptr;
      if (status && status->is_object()) {
        auto ips = status->find("podIPs");
        if (ips != status->end() && ips->is_array() && !ips->empty() && (*ips)[0].is_object() &&
            (*ips)[0].contains("ip") && (*ips)[0]["ip"].is_string()) {
          return (*ips)[0]["ip"].get<std::string>();
        }
        auto ip = status->find("podIP");
        if (ip != status->end() && ip->is_string()) return ip->get<std::string>();
      }
      return "";
    }
  } else if (kind == "Event" && api_version == "v1" && field == "source") {
    path = "source.component";
  } else if (kind == "Job" && field == "status.successful") {
    path = "status.succeeded";
  }

  // Fields kube-apiserver fills from non-pointer Go integers/booleans read "0"/"false" when the
  // JSON omits them.
  std::string missing;
  if ((kind == "ReplicaSet" || kind == "ReplicationController") && field == "status.replicas") {
    missing = "0";
  } else if (kind == "Job" && field == "status.successful") {
    missing = "0";
  } else if (kind == "Node" && field == "spec.unschedulable") {
    missing = "false";
  }

  const Json* cur = &object;
  size_t start = 0;
  while (true) {
    size_t dot = path.find('.', start);
    std::string part =
        path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (!cur->is_object()) return missing;
    auto it = cur->find(part);
    if (it == cur->end()) return missing;
    cur = &*it;
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  if (cur->is_string()) return cur->get<std::string>();
  if (cur->is_boolean()) return cur->get<bool>() ? "true" : "false";
  if (cur->is_number_integer() || cur->is_number_unsigned()) return cur->dump();
  return missing;
}

}  // namespace tether::kube
