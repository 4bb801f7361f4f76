#include "cel/parser.h"

#include <fmt/format.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <set>

namespace tether::cel {

std::string FormatPosition(std::string_view source, int32_t offset) {
  int line = 1;
  int col = 1;
  for (int32_t i = 0; i < offset && i < static_cast<int32_t>(source.size()); ++i) {
    auto c = static_cast<unsigned char>(source[static_cast<size_t>(i)]);
    if (c == '\n') {
      ++line;
      col = 1;
    } else if ((c & 0xC0) != 0x80) {
      ++col;
    }
  }
  return fmt::format("{}:{}", line, col);
}

namespace {

enum class Tok {
  kEof,
  kInt,
  kUint,
  kDouble,
  kString,
  kBytes,
  kIdent,
  kTrue,
  kFalse,
  kNull,
  kIn,
  kQuotedIdent,  // `a.b-c` style field names
  kPunct,
};

struct Token {
  Tok kind = Tok::kEof;
  std::string text;  // identifier / punctuation / decoded string
  int64_t i = 0;
  uint64_t u = 0;
  double d = 0;
  int32_t pos = 0;
};

const std::set<std::string, std::less<>>& Reserved() {
  static const auto* kReserved = new std::set<std::string, std::less<>>{
      "as",  "break", "const",   "continue",  "else",   "for", "function", "if",   "import",
      "let", "loop",  "package", "namespace", "return", "var", "void",     "while"};
  return *kReserved;
}

void AppendUtf8(std::string* out, uint32_t cp) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

class Lexer {
 public:
  explicit Lexer(std::string_view src) : s_(src) {}

  Result<std::vector<Token>> Run() {
    std::vector<Token> out;
    while (true) {
      SkipSpace();
      if (p_ >= s_.size()) {
        Token t;
        t.pos = static_cast<int32_t>(p_);
        out.push_back(t);
        return out;
      }
      auto t = Next();
      if (!t) return tl::unexpected(t.error());
      out.push_back(std::move(*t));
    }
  }

 private:
  tl::unexpected<Error> Err(size_t pos, const std::string& msg) {
    return Fail(ErrorCode::kInvalid, FormatPosition(s_, static_cast<int32_t>(pos)) + ": " + msg);
  }

  void SkipSpace() {
    while (p_ < s_.size()) {
      char c = s_[p_];
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
        ++p_;
      } else if (c == '/' && p_ + 1 < s_.size() && s_[p_ + 1] == '/') {
        while (p_ < s_.size() && s_[p_] != '\n') ++p_;
      } else {
        break;
      }
    }
  }

  static bool IsIdentStart(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  }
  static bool IsDigit(char c) { return c >= '0' && c <= '9'; }

  Result<Token> Next() {
    size_t start = p_;
    char c = s_[p_];
    Token t;
    t.pos = static_cast<int32_t>(start);
    // String/bytes literals with optional r/b prefixes.
    {
      size_t q = p_;
      bool raw = false;
      bool bytes = false;
      for (int k = 0; k < 2 && q < s_.size(); ++k) {
        char pc = s_[q];
        if ((pc == 'r' || pc == 'R') && !raw) {
          raw = true;
          ++q;
        } else if ((pc == 'b' || pc == 'B') && !bytes) {
          bytes = true;
          ++q;
        } else {
          break;
        }
      }
      if (q < s_.size() && (s_[q] == '\'' || s_[q] == '"')) {
        p_ = q;
        return LexString(start, raw, bytes);
      }
    }
    if (IsIdentStart(c)) {
      while (p_ < s_.size() && (IsIdentStart(s_[p_]) || IsDigit(s_[p_]))) ++p_;
      t.text = std::string(s_.substr(start, p_ - start));
      if (t.text == "true") {
        t.kind = Tok::kTrue;
      } else if (t.text == "false") {
        t.kind = Tok::kFalse;
      } else if (t.text == "null") {
        t.kind = Tok::kNull;
      } else if (t.text == "in") {
        t.kind = Tok::kIn;
      } else {
        t.kind = Tok::kIdent;
      }
      return t;
    }
    if (c == '`') {
      ++p_;
      size_t b = p_;
      while (p_ < s_.size() && s_[p_] != '`' && s_[p_] != '\n') ++p_;
      if (p_ >= s_.size() || s_[p_] != '`')
        return Err(start, "Syntax error: unterminated quoted identifier");
      t.kind = Tok::kQuotedIdent;
      t.text = std::string(s_.substr(b, p_ - b));
      ++p_;
      for (char qc : t.text) {
        if (!(IsIdentStart(qc) || IsDigit(qc) || qc == '.' || qc == '-' || qc == '/' ||
              qc == ' ')) {
          return Err(start, "Syntax error: invalid character in quoted identifier");
        }
      }
      if (t.text.empty()) return Err(start, "Syntax error: empty quoted identifier");
      return t;
    }
    if (IsDigit(c) || (c == '.' && p_ + 1 < s_.size() && IsDigit(s_[p_ + 1]))) {
      return LexNumber(start);
    }
    static constexpr std::string_view kPuncts[] = {
        "==", "!=", "<=", ">=", "&&", "||", "<", ">", "+", "-", "*", "/", "%",
        "!",  "?",  ":",  ".",  ",",  "(",  ")", "[", "]", "{", "}", "="};
    for (std::string_view pu : kPuncts) {
      if (s_.substr(p_, pu.size()) == pu) {
        if (pu == "=") break;
        p_ += pu.size();
        t.kind = Tok::kPunct;
        t.text = std::string(pu);
        return t;
      }
    }
    return Err(start, fmt::format("Syntax error: token recognition error at: '{}'", c));
  }

  Result<Token> LexNumber(size_t start) {
    Token t;
    t.pos = static_cast<int32_t>(start);
    if (s_[p_] == '0' && p_ + 1 < s_.size() && (s_[p_ + 1] == 'x' || s_[p_ + 1] == 'X')) {
      p_ += 2;
      size_t b = p_;
      while (p_ < s_.size() && std::isxdigit(static_cast<unsigned char>(s_[p_]))) ++p_;
      if (p_ == b) return Err(start, "Syntax error: invalid hex literal");
      std::string digits(s_.substr(b, p_ - b));
      errno = 0;
      unsigned long long v = std::strtoull(digits.c_str(), nullptr, 16);
      bool overflow = errno == ERANGE;
      if (p_ < s_.size() && (s_[p_] == 'u' || s_[p_] == 'U')) {
        ++p_;
        if (overflow) return Err(start, "invalid uint literal");
        t.kind = Tok::kUint;
        t.u = v;
        return t;
      }
      if (overflow || v > static_cast<unsigned long long>(INT64_MAX) + 1) {
        return Err(start, "invalid int literal");
      }
      t.kind = Tok::kInt;
      t.u = v;  // sign folding happens in the parser
      t.text = "int";
      return t;
    }
    while (p_ < s_.size() && IsDigit(s_[p_])) ++p_;
    bool is_double = false;
    if (p_ + 1 < s_.size() && s_[p_] == '.' && IsDigit(s_[p_ + 1])) {
      is_double = true;
      ++p_;
      while (p_ < s_.size() && IsDigit(s_[p_])) ++p_;
    }
    if (p_ < s_.size() && (s_[p_] == 'e' || s_[p_] == 'E')) {
      size_t save = p_;
      ++p_;
      if (p_ < s_.size() && (s_[p_] == '+' || s_[p_] == '-')) ++p_;
      if (p_ < s_.size() && IsDigit(s_[p_])) {
        while (p_ < s_.size() && IsDigit(s_[p_])) ++p_;
        is_double = true;
      } else {
        p_ = save;
      }
    }
    std::string text(s_.substr(start, p_ - start));
    if (is_double) {
      t.kind = Tok::kDouble;
      t.d = std::strtod(text.c_str(), nullptr);
      return t;
    }
    errno = 0;
    unsigned long long v = std::strtoull(text.c_str(), nullptr, 10);
    bool overflow = errno == ERANGE;
    if (p_ < s_.size() && (s_[p_] == 'u' || s_[p_] == 'U')) {
      ++p_;
      if (overflow) return Err(start, "invalid uint literal");
      t.kind = Tok::kUint;
      t.u = v;
      return t;
    }
    if (overflow || v > static_cast<unsigned long long>(INT64_MAX) + 1) {
      return Err(start, "invalid int literal");
    }
    t.kind = Tok::kInt;
    t.u = v;
    return t;
  }

  Result<Token> LexString(size_t start, bool raw, bool bytes) {
    Token t;
    t.pos = static_cast<int32_t>(start);
    t.kind = bytes ? Tok::kBytes : Tok::kString;
    char q = s_[p_];
    bool triple = s_.substr(p_, 3) == std::string(3, q);
    p_ += triple ? 3 : 1;
    std::string out;
    while (true) {
      if (p_ >= s_.size()) return Err(start, "Syntax error: unterminated string literal");
      char c = s_[p_];
      if (triple) {
        if (s_.substr(p_, 3) == std::string(3, q)) {
          p_ += 3;
          break;
        }
      } else {
        if (c == q) {
          ++p_;
          break;
        }
        if (c == '\n' || c == '\r') return Err(start, "Syntax error: unterminated string literal");
      }
      if (c == '\\' && !raw) {
        if (p_ + 1 >= s_.size()) return Err(start, "Syntax error: unterminated string literal");
        char e = s_[p_ + 1];
        size_t esc_pos = p_;
        p_ += 2;
        switch (e) {
          case 'a':
            out += '\a';
            break;
          case 'b':
            out += '\b';
            break;
          case 'f':
            out += '\f';
            break;
          case 'n':
            out += '\n';
            break;
          case 'r':
            out += '\r';
            break;
          case 't':
            out += '\t';
            break;
          case 'v':
            out += '\v';
            break;
          case '\\':
          case '?':
          case '"':
          case '\'':
          case '`':
            out += e;
            break;
          case 'x':
          case 'X':
          case 'u':
          case 'U': {
            int n = (e == 'x' || e == 'X') ? 2 : (e == 'u' ? 4 : 8);
            if (p_ + static_cast<size_t>(n) > s_.size())
              return Err(esc_pos, "Syntax error: invalid escape sequence");
            uint32_t cp = 0;
            for (int k = 0; k < n; ++k) {
              char h = s_[p_ + static_cast<size_t>(k)];
              if (!std::isxdigit(static_cast<unsigned char>(h))) {
                return Err(esc_pos, "Syntax error: invalid escape sequence");
              }
              cp = cp * 16 + static_cast<uint32_t>(std::isdigit(static_cast<unsigned char>(h))
                                                       ? h - '0'
                                                       : (std::tolower(h) - 'a' + 10));
            }
            p_ += static_cast<size_t>(n);
            if ((e == 'x' || e == 'X') && bytes) {
              out += static_cast<char>(cp);
            } else {
              if (bytes && (e == 'u' || e == 'U')) {
                return Err(esc_pos,
                           "Syntax error: unicode escapes are not allowed in bytes literals");
              }
              if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
                return Err(esc_pos, "Syntax error: invalid unicode code point in escape sequence");
              }
              AppendUtf8(&out, cp);
            }
            break;
          }
          default:
            if (e >= '0' && e <= '3' && p_ + 1 < s_.size() && s_[p_] >= '0' && s_[p_] <= '7' &&
                s_[p_ + 1] >= '0' && s_[p_ + 1] <= '7') {
              uint32_t cp =
                  static_cast<uint32_t>((e - '0') * 64 + (s_[p_] - '0') * 8 + (s_[p_ + 1] - '0'));
              p_ += 2;
              if (bytes) {
                out += static_cast<char>(cp);
              } else {
                AppendUtf8(&out, cp);
              }
            } else {
              return Err(esc_pos, "Syntax error: invalid escape sequence");
            }
        }
        continue;
      }
      out += c;
      ++p_;
    }
    t.text = std::move(out);
    return t;
  }

  std::string_view s_;
  size_t p_ = 0;
};

ExprPtr NewExpr(ExprKind kind, int32_t pos) {
  auto e = std::make_unique<Expr>();
  e->kind = kind;
  e->position = pos;
  return e;
}

ExprPtr NewCall(std::string fn, int32_t pos, std::vector<ExprPtr> args, ExprPtr target = nullptr) {
  auto e = NewExpr(ExprKind::kCall, pos);
  e->name = std::move(fn);
  e->args = std::move(args);
  e->target = std::move(target);
  return e;
}

class Parser {
 public:
  Parser(std::string_view src, std::vector<Token> toks, const ParseOptions& opts)
      : src_(src), toks_(std::move(toks)), opts_(opts) {}

  Result<ExprPtr> Run() {
    auto e = ParseExpr();
    if (!e) return e;
    if (Peek().kind != Tok::kEof)
      return Err(Peek().pos, "Syntax error: extraneous input '" + Describe(Peek()) + "'");
    return e;
  }

 private:
  class DepthGuard {
   public:
    explicit DepthGuard(Parser* p) : p_(p) {
      ++p_->depth_;
      ++p_->tree_depth_;
    }
    ~DepthGuard() {
      --p_->depth_;
      --p_->tree_depth_;
    }
    DepthGuard(const DepthGuard&) = delete;
    DepthGuard& operator=(const DepthGuard&) = delete;

   private:
    Parser* p_;
  };

  // Accounts for AST depth added without recursion (operator chains, prefix operators, member
  // chains), so the finished tree is never deeper than max_depth * 4 and can be evaluated and
  // destroyed recursively without exhausting the stack.
  class TreeGuard {
   public:
    explicit TreeGuard(Parser* p) : p_(p) {}
    ~TreeGuard() { p_->tree_depth_ -= added_; }
    TreeGuard(const TreeGuard&) = delete;
    TreeGuard& operator=(const TreeGuard&) = delete;
    // Returns false when the tree would get too deep.
    bool Add(int n = 1) {
      added_ += n;
      p_->tree_depth_ += n;
      return p_->tree_depth_ <= p_->opts_.max_depth * 4;
    }

   private:
    Parser* p_;
    int added_ = 0;
  };

  tl::unexpected<Error> Err(int32_t pos, const std::string& msg) {
    return Fail(ErrorCode::kInvalid, FormatPosition(src_, pos) + ": " + msg);
  }
  static std::string Describe(const Token& t) {
    switch (t.kind) {
      case Tok::kEof:
        return "<EOF>";
      case Tok::kInt:
      case Tok::kUint:
        return std::to_string(t.u);
      case Tok::kDouble:
        return fmt::format("{}", t.d);
      case Tok::kString:
      case Tok::kBytes:
        return "'" + t.text + "'";
      default:
        return t.text.empty() ? std::string(t.kind == Tok::kTrue    ? "true"
                                            : t.kind == Tok::kFalse ? "false"
                                            : t.kind == Tok::kNull  ? "null"
                                                                    : "in")
                              : t.text;
    }
  }

  const Token& Peek(size_t ahead = 0) const {
    size_t i = std::min(i_ + ahead, toks_.size() - 1);
    return toks_[i];
  }
  bool IsPunct(const char* p, size_t ahead = 0) const {
    const Token& t = Peek(ahead);
    return t.kind == Tok::kPunct && t.text == p;
  }
  bool Accept(const char* p) {
    if (IsPunct(p)) {
      ++i_;
      return true;
    }
    return false;
  }
  Result<bool> Expect(const char* p) {
    if (Accept(p)) return true;
    return Err(Peek().pos, fmt::format("Syntax error: mismatched input '{}' expecting '{}'",
                                       Describe(Peek()), p));
  }
  tl::unexpected<Error> TooDeep() {
    return Err(Peek().pos,
               fmt::format("expression nesting exceeds the limit of {}: simplify the expression",
                           opts_.max_depth));
  }

  Result<ExprPtr> ParseExpr() {
    DepthGuard g(this);
    if (depth_ > opts_.max_depth) return TooDeep();
    auto cond = ParseOr();
    if (!cond) return cond;
    if (IsPunct("?")) {
      int32_t pos = Peek().pos;
      ++i_;
      auto a = ParseOr();
      if (!a) return a;
      if (auto ok = Expect(":"); !ok) return tl::unexpected(ok.error());
      auto b = ParseExpr();
      if (!b) return b;
      std::vector<ExprPtr> args;
      args.push_back(std::move(*cond));
      args.push_back(std::move(*a));
      args.push_back(std::move(*b));
      return NewCall("_?_:_", pos, std::move(args));
    }
    return cond;
  }

  Result<ExprPtr> ParseOr() {
    auto left = ParseAnd();
    if (!left) return left;
    TreeGuard tree(this);
    while (IsPunct("||")) {
      int32_t pos = Peek().pos;
      ++i_;
      if (!tree.Add()) return TooDeep();
      auto right = ParseAnd();
      if (!right) return right;
      std::vector<ExprPtr> args;
      args.push_back(std::move(*left));
      args.push_back(std::move(*right));
      left = NewCall("_||_", pos, std::move(args));
    }
    return left;
  }

  Result<ExprPtr> ParseAnd() {
    auto left = ParseRelation();
    if (!left) return left;
    TreeGuard tree(this);
    while (IsPunct("&&")) {
      int32_t pos = Peek().pos;
      ++i_;
      if (!tree.Add()) return TooDeep();
      auto right = ParseRelation();
      if (!right) return right;
      std::vector<ExprPtr> args;
      args.push_back(std::move(*left));
      args.push_back(std::move(*right));
      left = NewCall("_&&_", pos, std::move(args));
    }
    return left;
  }

  Result<ExprPtr> ParseRelation() {
    auto left = ParseAddition();
    if (!left) return left;
    TreeGuard tree(this);
    while (true) {
      const Token& t = Peek();
      std::string op;
      if (t.kind == Tok::kIn) {
        op = "@in";
      } else if (t.kind == Tok::kPunct) {
        static const std::pair<const char*, const char*> kOps[] = {{"<", "_<_"},   {"<=", "_<=_"},
                                                                   {">", "_>_"},   {">=", "_>=_"},
                                                                   {"==", "_==_"}, {"!=", "_!=_"}};
        for (auto [p, name] : kOps) {
          if (t.text == p) op = name;
        }
      }
      if (op.empty()) break;
      int32_t pos = t.pos;
      ++i_;
      if (!tree.Add()) return TooDeep();
      auto right = ParseAddition();
      if (!right) return right;
      std::vector<ExprPtr> args;
      args.push_back(std::move(*left));
      args.push_back(std::move(*right));
      left = NewCall(op, pos, std::move(args));
    }
    return left;
  }

  Result<ExprPtr> ParseAddition() {
    auto left = ParseMultiplication();
    if (!left) return left;
    TreeGuard tree(this);
    while (IsPunct("+") || IsPunct("-")) {
      std::string op = Peek().text == "+" ? "_+_" : "_-_";
      int32_t pos = Peek().pos;
      ++i_;
      if (!tree.Add()) return TooDeep();
      auto right = ParseMultiplication();
      if (!right) return right;
      std::vector<ExprPtr> args;
      args.push_back(std::move(*left));
      args.push_back(std::move(*right));
      left = NewCall(op, pos, std::move(args));
    }
    return left;
  }

  Result<ExprPtr> ParseMultiplication() {
    auto left = ParseUnary();
    if (!left) return left;
    TreeGuard tree(this);
    while (IsPunct("*") || IsPunct("/") || IsPunct("%")) {
      std::string op = "_" + Peek().text + "_";
      int32_t pos = Peek().pos;
      ++i_;
      if (!tree.Add()) return TooDeep();
      auto right = ParseUnary();
      if (!right) return right;
      std::vector<ExprPtr> args;
      args.push_back(std::move(*left));
      args.push_back(std::move(*right));
      left = NewCall(op, pos, std::move(args));
    }
    return left;
  }

  Result<ExprPtr> ParseUnary() {
    DepthGuard g(this);
    if (depth_ > opts_.max_depth) return TooDeep();
    TreeGuard tree(this);
    if (IsPunct("!")) {
      std::vector<int32_t> ops;
      while (IsPunct("!")) {
        ops.push_back(Peek().pos);
        ++i_;
      }
      if (static_cast<int>(ops.size()) + depth_ > opts_.max_depth ||
          !tree.Add(static_cast<int>(ops.size()))) {
        return TooDeep();
      }
      auto operand = ParseMember();
      if (!operand) return operand;
      ExprPtr e = std::move(*operand);
      for (auto it = ops.rbegin(); it != ops.rend(); ++it) {
        std::vector<ExprPtr> args;
        args.push_back(std::move(e));
        e = NewCall("!_", *it, std::move(args));
      }
      return e;
    }
    if (IsPunct("-")) {
      std::vector<int32_t> ops;
      while (IsPunct("-")) {
        ops.push_back(Peek().pos);
        ++i_;
      }
      if (static_cast<int>(ops.size()) + depth_ > opts_.max_depth ||
          !tree.Add(static_cast<int>(ops.size()))) {
        return TooDeep();
      }
      ExprPtr e;
      const Token& t = Peek();
      if ((t.kind == Tok::kInt || t.kind == Tok::kDouble)) {
        // The last minus is part of the literal (so -9223372036854775808 is representable).
        int32_t pos = ops.back();
        ops.pop_back();
        auto lit = NewExpr(ExprKind::kConst, pos);
        if (t.kind == Tok::kInt) {
          if (t.u > static_cast<uint64_t>(INT64_MAX) + 1) return Err(t.pos, "invalid int literal");
          lit->constant = Value(static_cast<int64_t>(0 - t.u));
        } else {
          lit->constant = Value(-t.d);
        }
        ++i_;
        auto m = ParseMemberSuffix(std::move(lit));
        if (!m) return m;
        e = std::move(*m);
      } else {
        auto operand = ParseMember();
        if (!operand) return operand;
        e = std::move(*operand);
      }
      for (auto it = ops.rbegin(); it != ops.rend(); ++it) {
        std::vector<ExprPtr> args;
        args.push_back(std::move(e));
        e = NewCall("-_", *it, std::move(args));
      }
      return e;
    }
    return ParseMember();
  }

  Result<ExprPtr> ParseMember() {
    auto primary = ParsePrimary();
    if (!primary) return primary;
    return ParseMemberSuffix(std::move(*primary));
  }

  // Returns the dotted name of an ident/select chain ("a.b.c"), or "" if not a plain chain.
  static std::string QualifiedName(const Expr& e) {
    if (e.kind == ExprKind::kIdent) return e.name;
    if (e.kind == ExprKind::kSelect && !e.optional && !e.test_only && e.target) {
      std::string base = QualifiedName(*e.target);
      if (!base.empty()) return base + "." + e.name;
    }
    return "";
  }

  Result<ExprPtr> ParseMemberSuffix(ExprPtr e) {
    TreeGuard tree(this);
    while (true) {
      if (!tree.Add()) return TooDeep();
      if (IsPunct(".")) {
        int32_t pos = Peek().pos;
        ++i_;
        bool opt = Accept("?");
        const Token& id = Peek();
        if (id.kind != Tok::kIdent && id.kind != Tok::kQuotedIdent && id.kind != Tok::kIn &&
            id.kind != Tok::kTrue && id.kind != Tok::kFalse && id.kind != Tok::kNull) {
          return Err(id.pos, fmt::format("Syntax error: mismatched input '{}' expecting IDENTIFIER",
                                         Describe(id)));
        }
        std::string name =
            id.kind == Tok::kIdent || id.kind == Tok::kQuotedIdent ? id.text : Describe(id);
        bool quoted = id.kind == Tok::kQuotedIdent;
        ++i_;
        if (IsPunct("(") && !opt && !quoted) {
          int32_t cpos = Peek().pos;
          ++i_;
          auto args = ParseArgs(")");
          if (!args) return tl::unexpected(args.error());
          auto call = ExpandReceiverCall(std::move(e), name, cpos, std::move(*args));
          if (!call) return call;
          e = std::move(*call);
          continue;
        }
        auto sel = NewExpr(ExprKind::kSelect, pos);
        sel->name = name;
        sel->optional = opt;
        sel->target = std::move(e);
        e = std::move(sel);
        continue;
      }
      if (IsPunct("[")) {
        int32_t pos = Peek().pos;
        ++i_;
        bool opt = Accept("?");
        auto idx = ParseExpr();
        if (!idx) return idx;
        if (auto ok = Expect("]"); !ok) return tl::unexpected(ok.error());
        std::vector<ExprPtr> args;
        args.push_back(std::move(e));
        args.push_back(std::move(*idx));
        e = NewCall(opt ? "_[?_]" : "_[_]", pos, std::move(args));
        continue;
      }
      if (IsPunct("{")) {
        std::string type_name = QualifiedName(*e);
        if (type_name.empty()) break;
        int32_t pos = Peek().pos;
        ++i_;
        auto st = NewExpr(ExprKind::kStruct, pos);
        st->name = type_name;
        if (e->kind == ExprKind::kIdent && e->optional) st->name = "." + type_name;
        while (!IsPunct("}")) {
          bool optional = Accept("?");
          const Token& f = Peek();
          if (f.kind != Tok::kIdent && f.kind != Tok::kQuotedIdent) {
            return Err(f.pos,
                       fmt::format("Syntax error: mismatched input '{}' expecting IDENTIFIER",
                                   Describe(f)));
          }
          auto key = NewExpr(ExprKind::kConst, f.pos);
          key->constant = Value(f.text);
          ++i_;
          if (auto ok = Expect(":"); !ok) return tl::unexpected(ok.error());
          auto v = ParseExpr();
          if (!v) return v;
          st->entries.push_back(MapEntryExpr{std::move(key), std::move(*v), optional});
          if (!Accept(",")) break;
        }
        if (auto ok = Expect("}"); !ok) return tl::unexpected(ok.error());
        e = std::move(st);
        continue;
      }
      break;
    }
    return e;
  }

  Result<std::vector<ExprPtr>> ParseArgs(const char* close) {
    std::vector<ExprPtr> args;
    if (Accept(close)) return args;
    while (true) {
      auto a = ParseExpr();
      if (!a) return tl::unexpected(a.error());
      args.push_back(std::move(*a));
      if (Accept(",")) {
        if (Accept(close)) return args;  // trailing comma
        continue;
      }
      if (auto ok = Expect(close); !ok) return tl::unexpected(ok.error());
      return args;
    }
  }

  Result<ExprPtr> ParsePrimary() {
    DepthGuard g(this);
    if (depth_ > opts_.max_depth) return TooDeep();
    const Token& t = Peek();
    int32_t pos = t.pos;
    switch (t.kind) {
      case Tok::kInt: {
        if (t.u > static_cast<uint64_t>(INT64_MAX)) return Err(pos, "invalid int literal");
        auto e = NewExpr(ExprKind::kConst, pos);
        e->constant = Value(static_cast<int64_t>(t.u));
        ++i_;
        return e;
      }
      case Tok::kUint: {
        auto e = NewExpr(ExprKind::kConst, pos);
        e->constant = Value(t.u);
        ++i_;
        return e;
      }
      case Tok::kDouble: {
        auto e = NewExpr(ExprKind::kConst, pos);
        e->constant = Value(t.d);
        ++i_;
        return e;
      }
      case Tok::kString: {
        auto e = NewExpr(ExprKind::kConst, pos);
        e->constant = Value(t.text);
        ++i_;
        return e;
      }
      case Tok::kBytes: {
        auto e = NewExpr(ExprKind::kConst, pos);
        e->constant = Value(Bytes{t.text});
        ++i_;
        return e;
      }
      case Tok::kTrue:
      case Tok::kFalse: {
        auto e = NewExpr(ExprKind::kConst, pos);
        e->constant = Value(t.kind == Tok::kTrue);
        ++i_;
        return e;
      }
      case Tok::kNull: {
        auto e = NewExpr(ExprKind::kConst, pos);
        ++i_;
        return e;
      }
      case Tok::kIdent:
        return ParseIdentOrCall(false);
      case Tok::kPunct:
        break;
      default:
        return Err(pos, fmt::format("Syntax error: mismatched input '{}'", Describe(t)));
    }
    if (t.text == ".") {
      ++i_;
      if (Peek().kind != Tok::kIdent) {
        return Err(Peek().pos,
                   fmt::format("Syntax error: mismatched input '{}' expecting IDENTIFIER",
                               Describe(Peek())));
      }
      return ParseIdentOrCall(true);
    }
    if (t.text == "(") {
      ++i_;
      auto e = ParseExpr();
      if (!e) return e;
      if (auto ok = Expect(")"); !ok) return tl::unexpected(ok.error());
      return e;
    }
    if (t.text == "[") {
      ++i_;
      auto list = NewExpr(ExprKind::kList, pos);
      while (!IsPunct("]")) {
        bool opt = Accept("?");
        auto el = ParseExpr();
        if (!el) return el;
        list->args.push_back(std::move(*el));
        list->optional_elements.push_back(opt);
        if (!Accept(",")) break;
      }
      if (auto ok = Expect("]"); !ok) return tl::unexpected(ok.error());
      return list;
    }
    if (t.text == "{") {
      ++i_;
      auto map = NewExpr(ExprKind::kMap, pos);
      while (!IsPunct("}")) {
        bool opt = Accept("?");
        auto k = ParseExpr();
        if (!k) return k;
        if (auto ok = Expect(":"); !ok) return tl::unexpected(ok.error());
        auto v = ParseExpr();
        if (!v) return v;
        map->entries.push_back(MapEntryExpr{std::move(*k), std::move(*v), opt});
        if (!Accept(",")) break;
      }
      if (auto ok = Expect("}"); !ok) return tl::unexpected(ok.error());
      return map;
    }
    return Err(pos, fmt::format("Syntax error: mismatched input '{}'", Describe(t)));
  }

  Result<ExprPtr> ParseIdentOrCall(bool leading_dot) {
    const Token& t = Peek();
    int32_t pos = t.pos;
    std::string name = t.text;
    if (Reserved().count(name)) {
      return Err(pos, fmt::format("Syntax error: reserved identifier: {}", name));
    }
    ++i_;
    if (IsPunct("(")) {
      int32_t cpos = Peek().pos;
      ++i_;
      auto args = ParseArgs(")");
      if (!args) return tl::unexpected(args.error());
      if (name == "has" && !leading_dot) {
        if (args->size() != 1 || (*args)[0]->kind != ExprKind::kSelect || (*args)[0]->optional) {
          return Err(cpos, "invalid argument to has() macro");
        }
        auto sel = std::move((*args)[0]);
        sel->test_only = true;
        return sel;
      }
      return NewCall(name, cpos, std::move(*args));
    }
    auto e = NewExpr(ExprKind::kIdent, pos);
    e->name = leading_dot ? "." + name : name;
    return e;
  }

  Result<std::string> IterVar(const ExprPtr& e, const std::string& macro) {
    if (e->kind != ExprKind::kIdent || e->name.empty() || e->name[0] == '.') {
      return Err(e->position, fmt::format("{}() variable name must be a simple identifier", macro));
    }
    return e->name;
  }

  Result<ExprPtr> ExpandReceiverCall(ExprPtr target, const std::string& fn, int32_t pos,
                                     std::vector<ExprPtr> args) {
    struct Spec {
      const char* name;
      MacroKind kind;
      size_t nargs;
      int vars;
    };
    static constexpr Spec kMacros[] = {
        {"all", MacroKind::kAll, 2, 1},
        {"all", MacroKind::kAll, 3, 2},
        {"exists", MacroKind::kExists, 2, 1},
        {"exists", MacroKind::kExists, 3, 2},
        {"exists_one", MacroKind::kExistsOne, 2, 1},
        {"existsOne", MacroKind::kExistsOne, 2, 1},
        {"exists_one", MacroKind::kExistsOne, 3, 2},
        {"existsOne", MacroKind::kExistsOne, 3, 2},
        {"map", MacroKind::kMap, 2, 1},
        {"map", MacroKind::kMap, 3, 1},
        {"filter", MacroKind::kFilter, 2, 1},
        {"transformList", MacroKind::kTransformList, 3, 2},
        {"transformList", MacroKind::kTransformList, 4, 2},
        {"transformMap", MacroKind::kTransformMap, 3, 2},
        {"transformMap", MacroKind::kTransformMap, 4, 2},
        {"transformMapEntry", MacroKind::kTransformMapEntry, 3, 2},
        {"transformMapEntry", MacroKind::kTransformMapEntry, 4, 2},
        {"optMap", MacroKind::kOptMap, 2, 1},
        {"optFlatMap", MacroKind::kOptFlatMap, 2, 1},
    };
    // cel.index(i), cel.iterVar(i, j), cel.accuVar(i, j): generated names used by cel.block.
    if (target->kind == ExprKind::kIdent && target->name == "cel" &&
        (fn == "index" || fn == "iterVar" || fn == "accuVar")) {
      std::string name = "@" + fn;
      bool ok = args.size() == (fn == "index" ? 1u : 2u);
      for (const auto& a : args) {
        if (!ok || a->kind != ExprKind::kConst || a->constant.kind() != Kind::kInt) {
          ok = false;
          break;
        }
        name += ":" + std::to_string(a->constant.AsInt());
      }
      if (!ok) return Err(pos, fmt::format("cel.{}() requires constant int arguments", fn));
      auto id = NewExpr(ExprKind::kIdent, target->position);
      id->name = name;
      return id;
    }
    // cel.block([e0, e1, ...], body): e_i bound to cel.index(i), visible to later e_j and body.
    if (fn == "block" && args.size() == 2 && target->kind == ExprKind::kIdent &&
        target->name == "cel") {
      if (args[0]->kind != ExprKind::kList)
        return Err(pos, "cel.block() requires a list literal of bindings");
      ExprPtr body = std::move(args[1]);
      auto& slots = args[0]->args;
      for (size_t i = slots.size(); i > 0; --i) {
        auto c = NewExpr(ExprKind::kComprehension, pos);
        c->macro = MacroKind::kBind;
        c->var1 = "@index:" + std::to_string(i - 1);
        c->range = std::move(slots[i - 1]);
        c->transform = std::move(body);
        body = std::move(c);
      }
      return body;
    }
    // cel.bind(name, init, body)
    if (fn == "bind" && args.size() == 3 && target->kind == ExprKind::kIdent &&
        target->name == "cel") {
      auto var = IterVar(args[0], "cel.bind");
      if (!var) return tl::unexpected(var.error());
      auto c = NewExpr(ExprKind::kComprehension, pos);
      c->macro = MacroKind::kBind;
      c->var1 = *var;
      c->range = std::move(args[1]);
      c->transform = std::move(args[2]);
      return c;
    }
    for (const Spec& s : kMacros) {
      if (fn != s.name || args.size() != s.nargs) continue;
      auto c = NewExpr(ExprKind::kComprehension, pos);
      c->macro = s.kind;
      auto v1 = IterVar(args[0], fn);
      if (!v1) return tl::unexpected(v1.error());
      c->var1 = *v1;
      size_t next = 1;
      if (s.vars == 2) {
        auto v2 = IterVar(args[1], fn);
        if (!v2) return tl::unexpected(v2.error());
        c->var2 = *v2;
        if (c->var1 == c->var2) {
          return Err(args[1]->position,
                     fmt::format("{}() iteration variables must differ: '{}'", fn, c->var1));
        }
        next = 2;
      }
      c->range = std::move(target);
      size_t remaining = args.size() - next;
      bool has_filter =
          (s.kind == MacroKind::kMap && args.size() == 3) ||
          ((s.kind == MacroKind::kTransformList || s.kind == MacroKind::kTransformMap ||
            s.kind == MacroKind::kTransformMapEntry) &&
           args.size() == 4);
      if (s.kind == MacroKind::kFilter) {
        c->predicate = std::move(args[next]);
      } else if (has_filter) {
        c->predicate = std::move(args[next]);
        c->transform = std::move(args[next + 1]);
      } else {
        (void)remaining;
        c->transform = std::move(args[next]);
      }
      return c;
    }
    return NewCall(fn, pos, std::move(args), std::move(target));
  }

  std::string_view src_;
  std::vector<Token> toks_;
  ParseOptions opts_;
  size_t i_ = 0;
  int depth_ = 0;
  int tree_depth_ = 0;
};

}  // namespace

Result<ExprPtr> Parse(std::string_view source, const ParseOptions& options) {
  if (source.size() > options.max_source_bytes) {
    return Fail(ErrorCode::kInvalid,
                fmt::format("1:1: expression is {} bytes, more than the limit of {}: shorten it",
                            source.size(), options.max_source_bytes));
  }
  Lexer lexer(source);
  auto toks = lexer.Run();
  if (!toks) return tl::unexpected(toks.error());
  Parser parser(source, std::move(*toks), options);
  return parser.Run();
}

}  // namespace tether::cel
