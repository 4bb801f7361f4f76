#include "kube/config.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "common/log.h"
#include "kube/exec_credential.h"

namespace tether::kube {
namespace {

namespace fs = std::filesystem;

// Upper bound on any file the kubeconfig makes us read (kubeconfigs, certificates, tokens).
constexpr std::uintmax_t kMaxFileSize = 16 * 1024 * 1024;

// Bounded read: also safe on pipes and devices (e.g. --kubeconfig <(...), /dev/zero).
Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Fail(ErrorCode::kNotFound,
                fmt::format("cannot read {}: {}", path, std::strerror(errno)));
  }
  std::string out;
  char buf[65536];
  while (in) {
    in.read(buf, sizeof buf);
    out.append(buf, static_cast<std::size_t>(in.gcount()));
    if (out.size() > kMaxFileSize) {
      return Fail(ErrorCode::kTooLarge,
                  fmt::format("{} is larger than {} bytes", path, kMaxFileSize));
    }
  }
  if (in.bad()) return Fail(ErrorCode::kInternal, fmt::format("cannot read {}: I/O error", path));
  return out;
}

std::string Trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return {};
  const auto e = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(b, e - b + 1));
}

// Strict standard base64 (RFC 4648 §4); whitespace between groups is ignored, as Go's decoder
// ignores newlines.
bool Base64Decode(std::string_view in, std::string* out) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string clean;
  clean.reserve(in.size());
  for (char c : in) {
    if (c == '\n' || c == '\r' || c == ' ' || c == '\t') continue;
    clean.push_back(c);
  }
  if (clean.size() % 4 != 0) return false;
  out->clear();
  out->reserve(clean.size() / 4 * 3);
  for (std::size_t i = 0; i < clean.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int j = 0; j < 4; ++j) {
      const char c = clean[i + j];
      if (c == '=') {
        // Padding only in the last group's last one or two positions.
        if (i + 4 != clean.size() || j < 2) return false;
        v[j] = 0;
        ++pad;
      } else {
        if (pad > 0) return false;
        v[j] = value(c);
        if (v[j] < 0) return false;
      }
    }
    const unsigned triple = (v[0] << 18) | (v[1] << 12) | (v[2] << 6) | v[3];
    out->push_back(static_cast<char>((triple >> 16) & 0xFF));
    if (pad < 2) out->push_back(static_cast<char>((triple >> 8) & 0xFF));
    if (pad < 1) out->push_back(static_cast<char>(triple & 0xFF));
  }
  return true;
}

std::string DirOf(const std::string& file) {
  fs::path p(file);
  p = p.parent_path();
  return p.empty() ? std::string(".") : p.string();
}

// A path from a kubeconfig entry, made absolute against the directory of the file naming it.
std::string ResolvePath(const std::string& path, const std::string& kubeconfig_file) {
  if (path.empty()) return path;
  fs::path p(path);
  if (p.is_absolute()) return path;
  return (fs::path(DirOf(kubeconfig_file)) / p).lexically_normal().string();
}

// One named entry (cluster, user or context) and the file it came from.
struct Entry {
  YAML::Node node;
  std::string file;
};

struct Merged {
  std::vector<std::string> files;
  std::map<std::string, Entry> clusters;
  std::map<std::string, Entry> users;
  std::map<std::string, Entry> contexts;
  std::string current_context;
};

std::string FileList(const Merged& m) {
  std::string out;
  for (const auto& f : m.files) {
    if (!out.empty()) out += ":";
    out += f;
  }
  return out.empty() ? "<none>" : out;
}

std::string Names(const std::map<std::string, Entry>& m) {
  std::string out;
  for (const auto& [name, e] : m) {
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out.empty() ? "none" : out;
}

// Reads the scalar `key` of a map node. Absent/null → "". Non-scalar → error.
Result<std::string> GetString(const YAML::Node& map, const char* key, const std::string& where) {
  const YAML::Node v = map[key];
  if (!v || v.IsNull()) return std::string();
  if (!v.IsScalar()) {
    return Fail(ErrorCode::kInvalid, fmt::format("{}: {} must be a string", where, key));
  }
  return v.Scalar();
}

Result<bool> GetBool(const YAML::Node& map, const char* key, const std::string& where) {
  const YAML::Node v = map[key];
  if (!v || v.IsNull()) return false;
  bool b = false;
  if (!v.IsScalar() || !YAML::convert<bool>::decode(v, b)) {
    return Fail(ErrorCode::kInvalid, fmt::format("{}: {} must be true or false", where, key));
  }
  return b;
}

// Merges the named list `key` ("clusters", ...) of one file into `into`: first file wins.
Result<void> MergeList(const YAML::Node& root, const char* key, const char* item_key,
                       const std::string& file, std::map<std::string, Entry>* into) {
  const YAML::Node list = root[key];
  if (!list || list.IsNull()) return {};
  if (!list.IsSequence()) {
    return Fail(ErrorCode::kInvalid, fmt::format("kubeconfig {}: {} must be a list", file, key));
  }
  std::size_t index = 0;
  for (const YAML::Node& item : list) {
    if (!item.IsMap()) {
      return Fail(ErrorCode::kInvalid,
                  fmt::format("kubeconfig {}: {}[{}] must be a map with name and {}", file, key,
                              index, item_key));
    }
    const YAML::Node name = item["name"];
    if (!name || !name.IsScalar() || name.Scalar().empty()) {
      return Fail(ErrorCode::kInvalid,
                  fmt::format("kubeconfig {}: {}[{}] has no name", file, key, index));
    }
    YAML::Node body = item[item_key];
    if (body && !body.IsNull() && !body.IsMap()) {
      return Fail(ErrorCode::kInvalid, fmt::format("kubeconfig {}: {} \"{}\": {} must be a map",
                                                   file, item_key, name.Scalar(), item_key));
    }
    if (!body || body.IsNull()) body = YAML::Node(YAML::NodeType::Map);
    into->try_emplace(name.Scalar(), Entry{body, file});
    ++index;
  }
  return {};
}

Result<void> MergeDocument(std::string_view content, const std::string& file, Merged* m) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(content));
  } catch (const YAML::Exception& e) {
    return Fail(ErrorCode::kInvalid,
                fmt::format("kubeconfig {}: YAML syntax error at line {}, column {}: {}", file,
                            e.mark.line + 1, e.mark.column + 1, e.msg));
  }
  m->files.push_back(file);
  if (!root || root.IsNull()) return {};  // an empty kubeconfig is valid, as for kubectl
  if (!root.IsMap()) {
    return Fail(ErrorCode::kInvalid,
                fmt::format("kubeconfig {}: the document must be a map (apiVersion, clusters, "
                            "users, contexts, current-context)",
                            file));
  }
  try {
    if (auto r = MergeList(root, "clusters", "cluster", file, &m->clusters); !r) return r;
    if (auto r = MergeList(root, "users", "user", file, &m->users); !r) return r;
    if (auto r = MergeList(root, "contexts", "context", file, &m->contexts); !r) return r;
    if (m->current_context.empty()) {
      auto cc = GetString(root, "current-context", "kubeconfig " + file);
      if (!cc) return Fail(cc.error());
      m->current_context = *cc;
    }
  } catch (const YAML::Exception& e) {
    return Fail(ErrorCode::kInvalid, fmt::format("kubeconfig {}: {}", file, e.msg));
  }
  return {};
}

// Reads a "*-data" (base64) field or else the file field. `where` is "kubeconfig F: user \"u\"".
Result<std::string> DataOrFile(const Entry& e, const char* data_key, const char* file_key,
                               const std::string& where) {
  auto data = GetString(e.node, data_key, where);
  if (!data) return Fail(data.error());
  if (!data->empty()) {
    std::string decoded;
    if (!Base64Decode(*data, &decoded)) {
      return Fail(ErrorCode::kInvalid, fmt::format("{}: {} is not valid base64", where, data_key));
    }
    return decoded;
  }
  auto path = GetString(e.node, file_key, where);
  if (!path) return Fail(path.error());
  if (path->empty()) return std::string();
  const std::string resolved = ResolvePath(*path, e.file);
  auto content = ReadFile(resolved);
  if (!content) {
    return Fail(ErrorCode::kInvalid,
                fmt::format("{}: {}: {}", where, file_key, content.error().message));
  }
  return content;
}

Result<ExecConfig> ParseExec(const YAML::Node& node, const std::string& file,
                             const std::string& where) {
  if (!node.IsMap()) return Fail(ErrorCode::kInvalid, fmt::format("{}: exec must be a map", where));
  ExecConfig exec;
  auto api = GetString(node, "apiVersion", where + ": exec");
  if (!api) return Fail(api.error());
  exec.api_version = *api;
  if (exec.api_version.empty()) {
    return Fail(ErrorCode::kInvalid,
                fmt::format("{}: exec.apiVersion is not set (use {})", where, kExecApiV1));
  }
  if (exec.api_version != kExecApiV1 && exec.api_version != kExecApiV1Beta1) {
    return Fail(ErrorCode::kInvalid,
                fmt::format("{}: exec.apiVersion \"{}\" is not supported (use {} or {})", where,
                            exec.api_version, kExecApiV1, kExecApiV1Beta1));
  }
  auto cmd = GetString(node, "command", where + ": exec");
  if (!cmd) return Fail(cmd.error());
  if (cmd->empty()) {
    return Fail(ErrorCode::kInvalid, fmt::format("{}: exec.command is not set", where));
  }
  // Like client-go: a relative command with a path separator is relative to the kubeconfig.
  exec.command = (cmd->find('/') != std::string::npos) ? ResolvePath(*cmd, file) : *cmd;
  const YAML::Node args = node["args"];
  if (args && !args.IsNull()) {
    if (!args.IsSequence()) {
      return Fail(ErrorCode::kInvalid, fmt::format("{}: exec.args must be a list", where));
    }
    for (const auto& a : args) {
      if (!a.IsScalar()) {
        return Fail(ErrorCode::kInvalid,
                    fmt::format("{}: exec.args must be a list of strings", where));
      }
      exec.args.push_back(a.Scalar());
    }
  }
  const YAML::Node env = node["env"];
  if (env && !env.IsNull()) {
    if (!env.IsSequence()) {
      return Fail(ErrorCode::kInvalid, fmt::format("{}: exec.env must be a list", where));
    }
    for (const auto& kv : env) {
      if (!kv.IsMap() || !kv["name"] || !kv["name"].IsScalar() || kv["name"].Scalar().empty()) {
        return Fail(ErrorCode::kInvalid,
                    fmt::format("{}: exec.env entries need a name and a value", where));
      }
      auto value = GetString(kv, "value", where + ": exec.env");
      if (!value) return Fail(value.error());
      exec.env.emplace_back(kv["name"].Scalar(), *value);
    }
  }
  auto hint = GetString(node, "installHint", where + ": exec");
  if (!hint) return Fail(hint.error());
  exec.install_hint = *hint;
  auto pci = GetBool(node, "provideClusterInfo", where + ": exec");
  if (!pci) return Fail(pci.error());
  exec.provide_cluster_info = *pci;
  auto mode = GetString(node, "interactiveMode", where + ": exec");
  if (!mode) return Fail(mode.error());
  exec.interactive_mode = mode->empty() ? "IfAvailable" : *mode;
  if (exec.interactive_mode != "Never" && exec.interactive_mode != "IfAvailable" &&
      exec.interactive_mode != "Always") {
    return Fail(ErrorCode::kInvalid,
                fmt::format("{}: exec.interactiveMode \"{}\" is not one of Never, IfAvailable, "
                            "Always",
                            where, exec.interactive_mode));
  }
  return exec;
}

std::string NormalizeServer(std::string server) {
  while (!server.empty() && server.back() == '/') server.pop_back();
  if (server.find("://") == std::string::npos) server = "https://" + server;
  return server;
}

Result<RestConfig> Resolve(const Merged& m, const std::string& context_override, Clock& clock) {
  const std::string files = FileList(m);
  const std::string context_name = context_override.empty() ? m.current_context : context_override;
  if (context_name.empty()) {
    return Fail(ErrorCode::kInvalid,
                fmt::format("kubeconfig {}: no current-context is set; pass --context (available: "
                            "{})",
                            files, Names(m.contexts)));
  }
  const auto ctx_it = m.contexts.find(context_name);
  if (ctx_it == m.contexts.end()) {
    return Fail(ErrorCode::kNotFound,
                fmt::format("kubeconfig {}: context \"{}\" not found (available: {})", files,
                            context_name, Names(m.contexts)));
  }
  const Entry& ctx = ctx_it->second;
  const std::string ctx_where =
      fmt::format("kubeconfig {}: context \"{}\"", ctx.file, context_name);

  RestConfig cfg;
  cfg.context_name = context_name;
  try {
    auto cluster_name = GetString(ctx.node, "cluster", ctx_where);
    if (!cluster_name) return Fail(cluster_name.error());
    auto user_name = GetString(ctx.node, "user", ctx_where);
    if (!user_name) return Fail(user_name.error());
    auto ns = GetString(ctx.node, "namespace", ctx_where);
    if (!ns) return Fail(ns.error());
    if (!ns->empty()) cfg.default_namespace = *ns;

    if (cluster_name->empty()) {
      return Fail(ErrorCode::kInvalid, fmt::format("{}: no cluster is set", ctx_where));
    }
    const auto cl_it = m.clusters.find(*cluster_name);
    if (cl_it == m.clusters.end()) {
      return Fail(ErrorCode::kNotFound, fmt::format("{}: cluster \"{}\" not found (available: {})",
                                                    ctx_where, *cluster_name, Names(m.clusters)));
    }
    const Entry& cl = cl_it->second;
    const std::string cl_where =
        fmt::format("kubeconfig {}: cluster \"{}\"", cl.file, *cluster_name);
    auto server = GetString(cl.node, "server", cl_where);
    if (!server) return Fail(server.error());
    if (server->empty()) {
      return Fail(ErrorCode::kInvalid, fmt::format("{}: server is not set", cl_where));
    }
    cfg.server = NormalizeServer(*server);
    auto ca = DataOrFile(cl, "certificate-authority-data", "certificate-authority", cl_where);
    if (!ca) return Fail(ca.error());
    cfg.ca_pem = std::move(*ca);
    auto insecure = GetBool(cl.node, "insecure-skip-tls-verify", cl_where);
    if (!insecure) return Fail(insecure.error());
    cfg.insecure_skip_tls_verify = *insecure;
    auto sni = GetString(cl.node, "tls-server-name", cl_where);
    if (!sni) return Fail(sni.error());
    cfg.tls_server_name = *sni;
    auto proxy = GetString(cl.node, "proxy-url", cl_where);
    if (!proxy) return Fail(proxy.error());
    if (!proxy->empty() && proxy->rfind("http://", 0) != 0 && proxy->rfind("https://", 0) != 0 &&
        proxy->rfind("socks5://", 0) != 0) {
      return Fail(ErrorCode::kInvalid,
                  fmt::format("{}: proxy-url \"{}\" must start with http://, https:// or "
                              "socks5://",
                              cl_where, *proxy));
    }
    cfg.proxy_url = *proxy;
    nlohmann::json exec_extension;
    if (const YAML::Node exts = cl.node["extensions"]; exts && exts.IsSequence()) {
      for (const auto& ext : exts) {
        if (ext.IsMap() && ext["name"] && ext["name"].IsScalar() &&
            ext["name"].Scalar() == "client.authentication.k8s.io/exec" && ext["extension"]) {
          // Round-trip through YAML emit → JSON is not available; keep scalar maps only.
          nlohmann::json obj = nlohmann::json::object();
          const YAML::Node body = ext["extension"];
          if (body.IsMap()) {
            for (const auto& kv : body) {
              if (kv.first.IsScalar() && kv.second.IsScalar()) {
                obj[kv.first.Scalar()] = kv.second.Scalar();
              }
            }
          }
          exec_extension = std::move(obj);
        }
      }
    }

    if (user_name->empty()) return cfg;  // anonymous (or certificate-less) access
    const auto us_it = m.users.find(*user_name);
    if (us_it == m.users.end()) {
      return Fail(ErrorCode::kNotFound, fmt::format("{}: user \"{}\" not found (available: {})",
                                                    ctx_where, *user_name, Names(m.users)));
    }
    const Entry& us = us_it->second;
    const std::string us_where = fmt::format("kubeconfig {}: user \"{}\"", us.file, *user_name);
    auto cert = DataOrFile(us, "client-certificate-data", "client-certificate", us_where);
    if (!cert) return Fail(cert.error());
    auto key = DataOrFile(us, "client-key-data", "client-key", us_where);
    if (!key) return Fail(key.error());
    if (cert->empty() != key->empty()) {
      return Fail(ErrorCode::kInvalid,
                  fmt::format("{}: {} is set without {}; set both or neither", us_where,
                              cert->empty() ? "client-key" : "client-certificate",
                              cert->empty() ? "client-certificate" : "client-key"));
    }
    cfg.client_cert_pem = std::move(*cert);
    cfg.client_key_pem = std::move(*key);

    auto username = GetString(us.node, "username", us_where);
    if (!username) return Fail(username.error());
    auto password = GetString(us.node, "password", us_where);
    if (!password) return Fail(password.error());
    if (!username->empty() || !password->empty()) {
      return Fail(ErrorCode::kInvalid,
                  fmt::format("{}: basic authentication (username/password) is not supported "
                              "(Kubernetes removed it); use a token, client certificate or exec "
                              "plugin",
                              us_where));
    }
    if (us.node["auth-provider"] && !us.node["auth-provider"].IsNull()) {
      return Fail(ErrorCode::kInvalid,
                  fmt::format("{}: auth-provider is not supported; use an exec credential plugin "
                              "(e.g. kubelogin, gke-gcloud-auth-plugin)",
                              us_where));
    }
    auto token = GetString(us.node, "token", us_where);
    if (!token) return Fail(token.error());
    auto token_file = GetString(us.node, "tokenFile", us_where);
    if (!token_file) return Fail(token_file.error());
    const YAML::Node exec_node = us.node["exec"];
    if (exec_node && !exec_node.IsNull()) {
      auto exec = ParseExec(exec_node, us.file, us_where);
      if (!exec) return Fail(exec.error());
      ExecCredentialProvider::Options options;
      options.exec = std::move(*exec);
      options.kubeconfig_path = us.file;
      options.user_name = *user_name;
      if (options.exec.provide_cluster_info) {
        ExecClusterInfo info;
        info.server = cfg.server;
        info.tls_server_name = cfg.tls_server_name;
        info.insecure_skip_tls_verify = cfg.insecure_skip_tls_verify;
        info.ca_pem = cfg.ca_pem;
        info.proxy_url = cfg.proxy_url;
        info.config = exec_extension;
        options.cluster = std::move(info);
      }
      if (!token->empty() || !token_file->empty()) {
        return Fail(
            ErrorCode::kInvalid,
            fmt::format("{}: exec is set together with token/tokenFile; keep one", us_where));
      }
      cfg.credentials = std::make_shared<ExecCredentialProvider>(std::move(options), clock);
    } else if (!token->empty()) {
      cfg.credentials = std::make_shared<StaticTokenProvider>(Trim(*token));
    } else if (!token_file->empty()) {
      const std::string path = ResolvePath(*token_file, us.file);
      auto provider = std::make_shared<TokenFileProvider>(path, clock);
      if (auto first = provider->Get(); !first) {
        return Fail(ErrorCode::kInvalid,
                    fmt::format("{}: tokenFile: {}", us_where, first.error().message));
      }
      cfg.credentials = std::move(provider);
    }
  } catch (const YAML::Exception& e) {
    return Fail(ErrorCode::kInvalid, fmt::format("{}: {}", ctx_where, e.msg));
  }
  return cfg;
}

std::string GetEnv(const LoadOptions& opts, const std::string& name) {
  std::optional<std::string> v;
  if (opts.getenv) {
    v = opts.getenv(name);
  } else if (const char* c = std::getenv(name.c_str()); c != nullptr) {
    v = c;
  }
  return v.value_or("");
}

// The kubeconfig files to merge, in precedence order. Empty: none configured or found.
Result<std::vector<std::string>> KubeconfigFiles(const LoadOptions& opts) {
  if (!opts.kubeconfig.empty()) return std::vector<std::string>{opts.kubeconfig};
  const std::string env = GetEnv(opts, "KUBECONFIG");
  if (!env.empty()) {
    std::vector<std::string> files;
    std::set<std::string> seen;
    std::size_t start = 0;
    while (start <= env.size()) {
      std::size_t end = env.find(':', start);
      if (end == std::string::npos) end = env.size();
      std::string f = env.substr(start, end - start);
      start = end + 1;
      if (f.empty() || !seen.insert(f).second) continue;
      std::error_code ec;
      if (!fs::exists(f, ec)) continue;  // kubectl skips missing entries of the list
      files.push_back(std::move(f));
    }
    if (files.empty()) {
      return Fail(ErrorCode::kNotFound,
                  fmt::format("KUBECONFIG={} names no existing file; fix the variable or pass "
                              "--kubeconfig",
                              env));
    }
    return files;
  }
  const std::string home = GetEnv(opts, "HOME");
  if (!home.empty()) {
    const std::string def = home + "/.kube/config";
    std::error_code ec;
    if (fs::exists(def, ec)) return std::vector<std::string>{def};
  }
  return std::vector<std::string>{};
}

}  // namespace

TokenFileProvider::TokenFileProvider(std::string path, Clock& clock, std::chrono::seconds refresh)
    : path_(std::move(path)), clock_(clock), refresh_(refresh) {}

Result<Credential> TokenFileProvider::Get() {
  std::lock_guard lock(mu_);
  const TimePoint now = clock_.Now();
  if (!read_at_ || now - *read_at_ >= refresh_) {
    auto content = ReadFile(path_);
    std::string token = content ? Trim(*content) : std::string();
    if (content && !token.empty()) {
      token_ = std::move(token);
      read_at_ = now;
    } else if (token_.empty()) {
      return Fail(ErrorCode::kUnauthorized,
                  content ? fmt::format("token file {} is empty", path_) : content.error().message);
    } else {
      log::Warn("cannot re-read token file; keeping the previous token",
                {{"path", path_}, {"error", content ? "empty file" : content.error().message}});
      read_at_ = now;
    }
  }
  return Credential{token_, {}, {}, std::nullopt};
}

void TokenFileProvider::Invalidate() {
  std::lock_guard lock(mu_);
  read_at_.reset();
}

Result<RestConfig> ParseKubeconfig(std::string_view content, const std::string& path,
                                   const std::string& context, Clock& clock) {
  Merged m;
  if (auto r = MergeDocument(content, path, &m); !r) return Fail(r.error());
  return Resolve(m, context, clock);
}

Result<RestConfig> LoadKubeconfig(const LoadOptions& opts, Clock& clock) {
  auto files = KubeconfigFiles(opts);
  if (!files) return Fail(files.error());
  if (files->empty()) {
    return Fail(ErrorCode::kNotFound,
                "no kubeconfig found: pass --kubeconfig, set KUBECONFIG, or create "
                "~/.kube/config");
  }
  Merged m;
  for (const auto& f : *files) {
    auto content = ReadFile(f);
    if (!content) {
      return Fail(ErrorCode::kInvalid,
                  fmt::format("kubeconfig {}: {}", f, content.error().message));
    }
    if (auto r = MergeDocument(*content, f, &m); !r) return Fail(r.error());
  }
  return Resolve(m, opts.context, clock);
}

Result<RestConfig> InClusterConfig(Clock& clock, const std::string& root) {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (host == nullptr || port == nullptr || *host == '\0' || *port == '\0') {
    return Fail(ErrorCode::kNotFound,
                "not running in a cluster (KUBERNETES_SERVICE_HOST/PORT are not set); pass "
                "--kubeconfig or set KUBECONFIG");
  }
  RestConfig cfg;
  const std::string h(host);
  cfg.server =
      fmt::format("https://{}:{}", h.find(':') != std::string::npos ? "[" + h + "]" : h, port);
  cfg.context_name = "in-cluster";
  const std::string token_path = root + "/token";
  auto provider = std::make_shared<TokenFileProvider>(token_path, clock);
  if (auto first = provider->Get(); !first) {
    return Fail(ErrorCode::kUnauthorized,
                fmt::format("in-cluster config: service-account token: {}", first.error().message));
  }
  cfg.credentials = std::move(provider);
  if (auto ca = ReadFile(root + "/ca.crt"); ca) {
    cfg.ca_pem = std::move(*ca);
  } else {
    log::Warn("in-cluster CA bundle unreadable; using the system trust store",
              {{"error", ca.error().message}});
  }
  if (auto ns = ReadFile(root + "/namespace"); ns && !Trim(*ns).empty()) {
    cfg.default_namespace = Trim(*ns);
  }
  return cfg;
}

Result<RestConfig> LoadConfig(const LoadOptions& opts, Clock& clock) {
  if (!opts.kubeconfig.empty() || !GetEnv(opts, "KUBECONFIG").empty()) {
    return LoadKubeconfig(opts, clock);
  }
  if (!GetEnv(opts, "KUBERNETES_SERVICE_HOST").empty()) return InClusterConfig(clock);
  return LoadKubeconfig(opts, clock);
}

}  // namespace tether::kube
