#include "testing/apiserver.h"

#include <openssl/evp.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <fstream>
#include <thread>

#include "common/log.h"
#include "testing/table.h"

namespace tether::testing {
namespace {

using server::Response;

std::string Base64(const std::string& in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

Response JsonResponse(int status, const Json& body) { return Response::Json(status, body.dump()); }

// kube-apiserver's Warning headers for the unknown fields it pruned (unless
// fieldValidation=Ignore).
Response WithWarnings(Response r, const SchemaReport& report) {
  if (report.field_validation == "Ignore") return r;
  for (const auto& field : report.unknown_fields) {
    r.headers.emplace("Warning", "299 - " + Json("unknown field " + Json(field).dump()).dump());
  }
  return r;
}

Response ErrorResponse(const ApiError& e) {
  Response r = JsonResponse(e.code, StatusJson(e));
  if (e.code == 429 || e.code == 503) r.headers.emplace("Retry-After", "1");
  return r;
}

std::vector<std::string> Split(const std::string& path) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    if (j > i) out.push_back(path.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

Error ToError(const ApiError& e) {
  Error err(ErrorCodeFromHttp(e.code, e.reason), e.message);
  err.http_status = e.code;
  err.reason = e.reason;
  return err;
}

bool IsTrue(const std::optional<std::string>& v) { return v && (*v == "true" || *v == "1"); }

const char* ReasonFor(int status) {
  switch (status) {
    case 400:
      return "BadRequest";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "NotFound";
    case 409:
      return "Conflict";
    case 410:
      return "Expired";
    case 422:
      return "Invalid";
    case 429:
      return "TooManyRequests";
    case 500:
      return "InternalError";
    case 503:
      return "ServiceUnavailable";
    case 504:
      return "Timeout";
    default:
      return "";
  }
}

// Parses a request body (JSON, or YAML when the content type says so).
ApiResult<Json> ParseBody(const server::Request& req, const std::string& kind) {
  std::string ct = req.Header("Content-Type");
  if (auto semi = ct.find(';'); semi != std::string::npos) ct = ct.substr(0, semi);
  if (ct.empty() || ct == "application/json" || ct == "*/*") {
    Json j = Json::parse(req.body, nullptr, false);
    if (j.is_discarded()) {
      std::string head = req.body.substr(0, 30);
      return Err(BadRequest(
          "the object provided is unrecognized (must be of type " + kind +
          "): couldn't get version/kind; json parse error: unexpected end of JSON input (" + head +
          " ...)"));
    }
    return j;
  }
  if (ct == "application/yaml") {
    try {
      YAML::Node node = YAML::Load(req.body);
      // Round-trip through the JSON emitter of yaml-cpp is lossy; re-parse the flow form.
      YAML::Emitter em;
      em << YAML::DoubleQuoted << YAML::Flow << YAML::BeginSeq << node << YAML::EndSeq;
      Json j = Json::parse(em.c_str(), nullptr, false);
      if (j.is_discarded() || !j.is_array() || j.empty())
        return Err(BadRequest("invalid YAML body"));
      return j[0];
    } catch (const std::exception& e) {
      return Err(BadRequest(std::string("invalid YAML body: ") + e.what()));
    }
  }
  return Err(
      ApiError{415, "UnsupportedMediaType",
               "the body of the request was in an unknown format - accepted media types include: "
               "application/json, application/yaml, application/vnd.kubernetes.protobuf",
               nullptr});
}

}  // namespace

KubeconfigAuth KubeconfigAuth::ClientCert(std::string user, std::vector<std::string> groups) {
  KubeconfigAuth a;
  a.kind = Kind::kClientCert;
  a.user = std::move(user);
  a.groups = std::move(groups);
  return a;
}

KubeconfigAuth KubeconfigAuth::Token(std::string token, std::string user) {
  KubeconfigAuth a;
  a.kind = Kind::kToken;
  a.token = std::move(token);
  a.user = std::move(user);
  return a;
}

KubeconfigAuth KubeconfigAuth::Exec(std::string command, std::vector<std::string> args) {
  KubeconfigAuth a;
  a.kind = Kind::kExec;
  a.exec_command = std::move(command);
  a.exec_args = std::move(args);
  return a;
}

ApiServer::ApiServer(ApiServerOptions options)
    : options_(std::move(options)),
      clock_(options_.clock != nullptr ? options_.clock : &RealClock::Instance()),
      registry_(std::make_unique<ResourceRegistry>()),
      store_(std::make_unique<ObjectStore>(options_.max_events)),
      backend_(std::make_unique<ApiBackend>(*registry_, *store_, *clock_)) {}

ApiServer::~ApiServer() { Stop(); }

Result<std::unique_ptr<ApiServer>> ApiServer::Start(ApiServerOptions options) {
  std::unique_ptr<ApiServer> s(new ApiServer(std::move(options)));
  auto ca = server::GenerateCa({.common_name = "tether-test-apiserver-ca",
                                .organizations = {},
                                .dns_names = {},
                                .ip_addresses = {},
                                .validity = std::chrono::hours(24 * 365),
                                .not_before = std::nullopt});
  if (!ca) return tl::unexpected(ca.error().Wrap("apiserver: generating CA"));
  s->ca_ = *ca;
  auto serving = server::IssueServerCert(
      s->ca_,
      {.common_name = "kube-apiserver",
       .organizations = {},
       .dns_names = {"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"},
       .ip_addresses = {"127.0.0.1"},
       .validity = std::chrono::hours(24 * 365),
       .not_before = std::nullopt});
  if (!serving)
    return tl::unexpected(serving.error().Wrap("apiserver: issuing serving certificate"));
  s->serving_ = *serving;
  auto ns_type = s->registry_->Find("", "v1", "namespaces");
  for (const auto& ns : s->options_.namespaces) {
    auto created = s->backend_->Create(*ns_type, "", Json{{"metadata", {{"name", ns}}}});
    if (!created && created.error().code != 409) {
      return Fail(ErrorCode::kInternal,
                  "apiserver: creating namespace " + ns + ": " + created.error().message);
    }
  }
  s->port_ = s->options_.port;
  if (auto r = s->Listen(); !r) return tl::unexpected(r.error());
  return s;
}

Result<void> ApiServer::Listen() {
  server::HttpServerOptions opts;
  opts.bind_address = options_.host + ":" + std::to_string(port_);
  opts.tls = server::TlsConfig{serving_.cert_pem, serving_.key_pem, ca_.cert_pem, false};
  opts.max_body_bytes = 3 * 1024 * 1024 + 512 * 1024;
  opts.name = "apiserver";
  auto http = std::make_unique<server::HttpServer>(opts);
  http->RoutePrefix("", "/",
                    server::Handler([this](const server::Request& r, server::StreamWriter& w) {
                      return Handle(r, w);
                    }));
  if (auto r = http->Start(); !r) return tl::unexpected(r.error().Wrap("apiserver"));
  port_ = http->port();
  std::lock_guard lock(mu_);
  http_ = std::move(http);
  return {};
}

std::string ApiServer::url() const {
  return "https://" + options_.host + ":" + std::to_string(port_);
}

bool ApiServer::running() const {
  std::lock_guard lock(mu_);
  return http_ != nullptr;
}

void ApiServer::Stop() {
  std::unique_ptr<server::HttpServer> http;
  {
    std::lock_guard lock(mu_);
    http = std::move(http_);
  }
  watch_epoch_.fetch_add(1);
  store_->NotifyAll();
  if (http) http->Stop();
}

Result<void> ApiServer::Restart() {
  Stop();
  // The port may linger briefly in the kernel after close; SO_REUSEADDR covers TIME_WAIT.
  return Listen();
}

Result<server::CertKeyPair> ApiServer::IssueClientCert(const std::string& user,
                                                       const std::vector<std::string>& groups) {
  return server::IssueClientCert(ca_, {.common_name = user,
                                       .organizations = groups,
                                       .dns_names = {},
                                       .ip_addresses = {},
                                       .validity = std::chrono::hours(24 * 365),
                                       .not_before = std::nullopt});
}

Result<kube::RestConfig> ApiServer::RestConfigFor(const std::string& user,
                                                  const std::vector<std::string>& groups) {
  auto cert = IssueClientCert(user, groups);
  if (!cert) return tl::unexpected(cert.error());
  kube::RestConfig rc;
  rc.server = url();
  rc.ca_pem = ca_pem();
  rc.client_cert_pem = cert->cert_pem;
  rc.client_key_pem = cert->key_pem;
  return rc;
}

void ApiServer::AddToken(const std::string& token, const std::string& user,
                         const std::vector<std::string>& groups) {
  std::lock_guard lock(mu_);
  tokens_[token] = User{user, groups, false};
}

void ApiServer::RevokeToken(const std::string& token) {
  std::lock_guard lock(mu_);
  tokens_.erase(token);
}

Result<void> ApiServer::WriteKubeconfig(const std::string& path, const KubeconfigAuth& auth) {
  Json user = Json::object();
  switch (auth.kind) {
    case KubeconfigAuth::Kind::kClientCert: {
      auto cert = IssueClientCert(auth.user, auth.groups);
      if (!cert) return tl::unexpected(cert.error());
      user["client-certificate-data"] = Base64(cert->cert_pem);
      user["client-key-data"] = Base64(cert->key_pem);
      break;
    }
    case KubeconfigAuth::Kind::kToken:
      if (auth.token.empty()) {
        return Fail(ErrorCode::kInvalid, "WriteKubeconfig: token auth needs KubeconfigAuth.token");
      }
      AddToken(auth.token, auth.user, auth.groups);
      user["token"] = auth.token;
      break;
    case KubeconfigAuth::Kind::kExec: {
      if (auth.exec_command.empty()) {
        return Fail(ErrorCode::kInvalid,
                    "WriteKubeconfig: exec auth needs KubeconfigAuth.exec_command");
      }
      Json env = Json::array();
      for (const auto& [k, v] : auth.exec_env) env.push_back({{"name", k}, {"value", v}});
      user["exec"] = {{"apiVersion", "client.authentication.k8s.io/v1"},
                      {"command", auth.exec_command},
                      {"args", auth.exec_args},
                      {"env", env},
                      {"interactiveMode", "Never"}};
      break;
    }
  }
  Json config = {
      {"apiVersion", "v1"},
      {"kind", "Config"},
      {"clusters",
       {{{"name", "tether-test"},
         {"cluster", {{"server", url()}, {"certificate-authority-data", Base64(ca_.cert_pem)}}}}}},
      {"users", {{{"name", "tether-test-user"}, {"user", user}}}},
      {"contexts",
       {{{"name", auth.context_name},
         {"context",
          {{"cluster", "tether-test"},
           {"user", "tether-test-user"},
           {"namespace", auth.default_namespace}}}}}},
      {"current-context", auth.context_name},
      {"preferences", Json::object()}};
  std::ofstream out(path, std::ios::trunc);
  if (!out) {
    return Fail(ErrorCode::kInvalid, "WriteKubeconfig: cannot open " + path +
                                         " for writing (does the directory exist?)");
  }
  // JSON is valid YAML: every kubeconfig loader accepts it.
  out << config.dump(2) << "\n";
  if (!out.good())
    return Fail(ErrorCode::kInternal, "WriteKubeconfig: writing " + path + " failed");
  return {};
}

void ApiServer::Deny(const std::string& user, const std::string& verb,
                     const std::string& resource) {
  std::lock_guard lock(mu_);
  denials_.push_back({user, verb, resource});
}

void ApiServer::ClearDenials() {
  std::lock_guard lock(mu_);
  denials_.clear();
}

void ApiServer::FailNext(const std::string& verb, const std::string& resource, int count,
                         int http_status, const std::string& message) {
  std::lock_guard lock(mu_);
  faults_.push_back({verb, resource, count, http_status, message});
}

void ApiServer::DropWatches() {
  watch_epoch_.fetch_add(1);
  store_->NotifyAll();
}

void ApiServer::Compact() { store_->Compact(); }

void ApiServer::SetMaxWatchDuration(std::chrono::milliseconds d) {
  std::lock_guard lock(mu_);
  max_watch_ = d;
}

int ApiServer::RequestCount(const std::string& verb, const std::string& resource) const {
  std::lock_guard lock(mu_);
  int n = 0;
  for (const auto& [key, count] : request_counts_) {
    if ((verb == "*" || key.first == verb) && (resource == "*" || key.second == resource))
      n += count;
  }
  return n;
}

bool ApiServer::Authorized(const User& user, const std::string& verb, const std::string& resource,
                           const std::string& sub) const {
  if (user.anonymous) return false;
  std::string full = sub.empty() ? resource : resource + "/" + sub;
  std::lock_guard lock(mu_);
  for (const auto& d : denials_) {
    if (d.user != user.name && d.user != "*") continue;
    if (d.verb != "*" && d.verb != verb) continue;
    if (d.resource != "*" && d.resource != full && d.resource != resource) continue;
    return false;
  }
  return true;
}

std::optional<ApiError> ApiServer::TakeFault(const std::string& verb, const std::string& resource) {
  std::lock_guard lock(mu_);
  request_counts_[{verb, resource}]++;
  for (auto it = faults_.begin(); it != faults_.end(); ++it) {
    if ((it->verb == "*" || it->verb == verb) &&
        (it->resource == "*" || it->resource == resource)) {
      ApiError e{it->status, ReasonFor(it->status),
                 it->message.empty() ? "injected failure (" + std::to_string(it->status) +
                                           ") for " + verb + " " + resource
                                     : it->message,
                 Json::object()};
      if (it->status == 429 || it->status == 503) e.details = Json{{"retryAfterSeconds", 1}};
      if (--it->remaining <= 0) faults_.erase(it);
      return e;
    }
  }
  return std::nullopt;
}

Result<ResourceType> ApiServer::Lookup(const std::string& api_version,
                                       const std::string& resource) const {
  std::string group, version = api_version;
  if (auto slash = api_version.find('/'); slash != std::string::npos) {
    group = api_version.substr(0, slash);
    version = api_version.substr(slash + 1);
  }
  auto t = registry_->Find(group, version, resource);
  if (!t) {
    return Fail(ErrorCode::kNotFound, "apiserver: no resource \"" + resource + "\" in " +
                                          api_version +
                                          " (create its CustomResourceDefinition first?)");
  }
  return *t;
}

Result<Json> ApiServer::Create(const std::string& api_version, const std::string& resource,
                               const std::string& ns, Json object) {
  auto t = Lookup(api_version, resource);
  if (!t) return tl::unexpected(t.error());
  auto r = backend_->Create(*t, ns, std::move(object));
  if (!r) return tl::unexpected(ToError(r.error()));
  return *r;
}

Result<Json> ApiServer::Get(const std::string& api_version, const std::string& resource,
                            const std::string& ns, const std::string& name) {
  auto t = Lookup(api_version, resource);
  if (!t) return tl::unexpected(t.error());
  auto r = backend_->Get(*t, t->namespaced ? ns : "", name);
  if (!r) return tl::unexpected(ToError(r.error()));
  return *r;
}

Result<Json> ApiServer::Update(const std::string& api_version, const std::string& resource,
                               const std::string& ns, Json object) {
  auto t = Lookup(api_version, resource);
  if (!t) return tl::unexpected(t.error());
  std::string name = object.value("metadata", Json::object()).value("name", "");
  auto r = backend_->Update(*t, ns, name, std::move(object));
  if (!r) return tl::unexpected(ToError(r.error()));
  return *r;
}

Result<Json> ApiServer::UpdateStatus(const std::string& api_version, const std::string& resource,
                                     const std::string& ns, Json object) {
  auto t = Lookup(api_version, resource);
  if (!t) return tl::unexpected(t.error());
  std::string name = object.value("metadata", Json::object()).value("name", "");
  auto r = backend_->Update(*t, ns, name, std::move(object), Subresource::kStatus);
  if (!r) return tl::unexpected(ToError(r.error()));
  return *r;
}

Result<Json> ApiServer::Delete(const std::string& api_version, const std::string& resource,
                               const std::string& ns, const std::string& name) {
  auto t = Lookup(api_version, resource);
  if (!t) return tl::unexpected(t.error());
  auto r = backend_->Delete(*t, ns, name, {});
  if (!r) return tl::unexpected(ToError(r.error()));
  return r->body;
}

Result<Json> ApiServer::List(const std::string& api_version, const std::string& resource,
                             const std::string& ns, const std::string& label_selector) {
  auto t = Lookup(api_version, resource);
  if (!t) return tl::unexpected(t.error());
  ListParams p;
  p.label_selector = label_selector;
  auto r = backend_->List(*t, ns, p);
  if (!r) return tl::unexpected(ToError(r.error()));
  return *r;
}

Response ApiServer::Handle(const server::Request& req, server::StreamWriter& writer) {
  // Authentication.
  User user;
  std::string authz = req.Header("Authorization");
  if (authz.starts_with("Bearer ") || authz.starts_with("bearer ")) {
    std::string token = authz.substr(7);
    std::lock_guard lock(mu_);
    auto it = tokens_.find(token);
    if (it == tokens_.end()) return ErrorResponse(Unauthorized());
    user = it->second;
  } else if (req.peer.verified) {
    user = User{req.peer.common_name, req.peer.organizations, false};
  } else {
    if (!options_.anonymous_auth) return ErrorResponse(Unauthorized());
    user = User{"system:anonymous", {"system:unauthenticated"}, true};
  }
  if (!user.anonymous) user.groups.push_back("system:authenticated");

  const std::string& path = req.path;
  if (path == "/healthz" || path == "/readyz" || path == "/livez") return Response::Text(200, "ok");
  if (path == "/version") {
    return JsonResponse(200, {{"major", "1"},
                              {"minor", "34"},
                              {"emulationMajor", "1"},
                              {"emulationMinor", "34"},
                              {"minCompatibilityMajor", "1"},
                              {"minCompatibilityMinor", "33"},
                              {"gitVersion", "v1.34.2"},
                              {"gitCommit", "tether-embedded-apiserver"},
                              {"gitTreeState", "clean"},
                              {"buildDate", "2026-01-01T00:00:00Z"},
                              {"goVersion", "go1.24.4"},
                              {"compiler", "gc"},
                              {"platform", "linux/amd64"}});
  }
  std::vector<std::string> seg = Split(path);
  bool resource_path = (seg.size() > 2 && seg[0] == "api") || (seg.size() > 3 && seg[0] == "apis");
  if (user.anonymous && !resource_path) {
    return ErrorResponse(ApiError{403, "Forbidden",
                                  "forbidden: User \"system:anonymous\" cannot " +
                                      std::string(req.method == "GET" ? "get" : "post") +
                                      " path \"" + path + "\"",
                                  Json::object()});
  }
  if (seg.empty()) return Response::Text(404, "404 page not found\n");
  if (seg[0] == "api") {
    if (seg.size() == 1) {
      return JsonResponse(200, registry_->ApiVersions(options_.host + ":" + std::to_string(port_)));
    }
    if (seg[1] != "v1") return Response::Text(404, "404 page not found\n");
    if (seg.size() == 2) return JsonResponse(200, *registry_->ApiResourceList("", "v1"));
    return HandleResource(req, writer, user, seg);
  }
  if (seg[0] == "apis") {
    if (seg.size() == 1) return JsonResponse(200, registry_->ApiGroupList());
    if (seg.size() == 2) {
      auto g = registry_->ApiGroup(seg[1]);
      if (!g) return Response::Text(404, "404 page not found\n");
      return JsonResponse(200, *g);
    }
    if (!registry_->HasGroupVersion(seg[1], seg[2]))
      return Response::Text(404, "404 page not found\n");
    if (seg.size() == 3) return JsonResponse(200, *registry_->ApiResourceList(seg[1], seg[2]));
    return HandleResource(req, writer, user, seg);
  }
  return Response::Text(404, "404 page not found\n");
}

Response ApiServer::HandleResource(const server::Request& req, server::StreamWriter& writer,
                                   const User& user, const std::vector<std::string>& seg) {
  std::string group, version;
  size_t i;
  if (seg[0] == "api") {
    version = "v1";
    i = 2;
  } else {
    group = seg[1];
    version = seg[2];
    i = 3;
  }
  std::vector<std::string> rest(seg.begin() + static_cast<std::ptrdiff_t>(i), seg.end());
  std::string ns, resource, name, sub;
  if (rest.size() >= 3 && rest[0] == "namespaces") {
    ns = rest[1];
    resource = rest[2];
    if (rest.size() >= 4) name = rest[3];
    if (rest.size() >= 5) sub = rest[4];
    if (rest.size() > 5) return ErrorResponse(NotFoundPath());
  } else {
    resource = rest[0];
    if (rest.size() >= 2) name = rest[1];
    if (rest.size() >= 3) sub = rest[2];
    if (rest.size() > 3) return ErrorResponse(NotFoundPath());
  }
  auto type = registry_->Find(group, version, resource);
  if (!type) return ErrorResponse(NotFoundPath());
  if (!type->namespaced && !ns.empty()) return ErrorResponse(NotFoundPath());
  Subresource subres = Subresource::kNone;
  if (sub == "status" && type->has_status) {
    subres = Subresource::kStatus;
  } else if (sub == "scale" && type->has_scale) {
    subres = Subresource::kScale;
  } else if (!sub.empty()) {
    return ErrorResponse(NotFoundPath());
  }

  std::string verb;
  const std::string& m = req.method;
  bool watch = IsTrue(req.Query("watch"));
  if (m == "GET") {
    verb = !name.empty() ? "get" : (watch ? "watch" : "list");
  } else if (m == "POST") {
    if (!name.empty()) return ErrorResponse(MethodNotAllowed());
    verb = "create";
  } else if (m == "PUT") {
    verb = "update";
  } else if (m == "PATCH") {
    verb = "patch";
  } else if (m == "DELETE") {
    verb = name.empty() ? "deletecollection" : "delete";
  } else {
    return ErrorResponse(MethodNotAllowed());
  }
  if ((verb == "update" || verb == "patch") && name.empty())
    return ErrorResponse(MethodNotAllowed());
  if (!type->HasVerb(verb) && subres == Subresource::kNone)
    return ErrorResponse(MethodNotAllowed());
  if (subres != Subresource::kNone && verb != "get" && verb != "update" && verb != "patch") {
    return ErrorResponse(MethodNotAllowed());
  }
  std::string res_key = sub.empty() ? resource : resource + "/" + sub;
  bool self_review =
      type->group == "authorization.k8s.io" && resource == "selfsubjectaccessreviews";
  if (!self_review && !Authorized(user, verb, resource, sub)) {
    return ErrorResponse(Forbidden(user.name, verb, resource, group, sub, name, ns));
  }
  if (auto fault = TakeFault(verb, res_key)) return ErrorResponse(*fault);

  std::string accept = req.Header("Accept");
  if (!accept.empty() && accept.find("json") == std::string::npos &&
      accept.find("*/*") == std::string::npos && accept.find("yaml") == std::string::npos) {
    return ErrorResponse(NotAcceptable());
  }
  bool dry_run = req.Query("dryRun").has_value() && *req.Query("dryRun") == "All";
  SchemaReport report;
  report.field_validation = req.Query("fieldValidation").value_or("Warn");

  if (type->virtual_create) return AccessReview(req, *type, user, ns);

  if (verb == "watch") return Watch(req, writer, *type, ns);
  if (verb == "list") {
    ListParams p;
    p.label_selector = req.Query("labelSelector").value_or("");
    p.field_selector = req.Query("fieldSelector").value_or("");
    if (auto l = req.Query("limit")) {
      try {
        p.limit = std::stoll(*l);
      } catch (...) {
        p.limit = 0;
      }
    }
    p.continue_token = req.Query("continue").value_or("");
    p.resource_version = req.Query("resourceVersion");
    p.resource_version_match = req.Query("resourceVersionMatch").value_or("");
    auto r = backend_->List(*type, ns, p);
    if (!r) return ErrorResponse(r.error());
    if (WantsTable(accept)) {
      std::vector<Json> items((*r)["items"].begin(), (*r)["items"].end());
      Json table = ToTable(*type, items, (*r)["metadata"].value("resourceVersion", ""),
                           req.Query("includeObject").value_or("Metadata"), clock_->Now());
      if ((*r)["metadata"].contains("continue")) {
        table["metadata"]["continue"] = (*r)["metadata"]["continue"];
      }
      return JsonResponse(200, table);
    }
    return JsonResponse(200, *r);
  }
  if (verb == "get") {
    auto r = backend_->Get(*type, ns, name, subres);
    if (!r) return ErrorResponse(r.error());
    if (WantsTable(accept) && subres == Subresource::kNone) {
      return JsonResponse(200,
                          ToTable(*type, {*r}, (*r)["metadata"].value("resourceVersion", ""),
                                  req.Query("includeObject").value_or("Metadata"), clock_->Now()));
    }
    return JsonResponse(200, *r);
  }
  if (verb == "create") {
    auto body = ParseBody(req, type->kind);
    if (!body) return ErrorResponse(body.error());
    auto r = backend_->Create(*type, ns, std::move(*body), dry_run, &report);
    if (!r) return ErrorResponse(r.error());
    return WithWarnings(JsonResponse(201, *r), report);
  }
  if (verb == "update") {
    auto body = ParseBody(req, subres == Subresource::kScale ? "Scale" : type->kind);
    if (!body) return ErrorResponse(body.error());
    auto r = backend_->Update(*type, ns, name, std::move(*body), subres, dry_run, &report);
    if (!r) return ErrorResponse(r.error());
    return WithWarnings(JsonResponse(200, *r), report);
  }
  if (verb == "patch") {
    PatchParams p;
    p.content_type = req.Header("Content-Type");
    p.field_manager = req.Query("fieldManager").value_or("");
    p.force = IsTrue(req.Query("force"));
    p.dry_run = dry_run;
    p.report = &report;
    bool created = false;
    auto r = backend_->Patch(*type, ns, name, subres, req.body, p, &created);
    if (!r) return ErrorResponse(r.error());
    return WithWarnings(JsonResponse(created ? 201 : 200, *r), report);
  }
  if (verb == "delete") {
    DeleteParams p;
    if (!req.body.empty()) {
      Json opts = Json::parse(req.body, nullptr, false);
      if (opts.is_discarded() || !opts.is_object()) {
        return ErrorResponse(
            BadRequest("the object provided is unrecognized (must be of type DeleteOptions)"));
      }
      if (opts.contains("preconditions") && opts["preconditions"].is_object()) {
        const Json& pre = opts["preconditions"];
        if (pre.contains("uid") && pre["uid"].is_string())
          p.precondition_uid = pre["uid"].get<std::string>();
        if (pre.contains("resourceVersion") && pre["resourceVersion"].is_string()) {
          p.precondition_resource_version = pre["resourceVersion"].get<std::string>();
        }
      }
      if (opts.contains("propagationPolicy") && opts["propagationPolicy"].is_string()) {
        p.propagation_policy = opts["propagationPolicy"].get<std::string>();
      }
      if (opts.contains("dryRun") && opts["dryRun"].is_array() && !opts["dryRun"].empty())
        dry_run = true;
    }
    if (auto pp = req.Query("propagationPolicy")) p.propagation_policy = *pp;
    p.dry_run = dry_run;
    auto r = backend_->Delete(*type, ns, name, p);
    if (!r) return ErrorResponse(r.error());
    return JsonResponse(200, r->body);
  }
  // deletecollection
  ListParams lp;
  lp.label_selector = req.Query("labelSelector").value_or("");
  lp.field_selector = req.Query("fieldSelector").value_or("");
  auto list = backend_->List(*type, ns, lp);
  if (!list) return ErrorResponse(list.error());
  Json items = Json::array();
  for (const auto& item : (*list)["items"]) {
    const Json& md = item["metadata"];
    DeleteParams p;
    p.dry_run = dry_run;
    auto r = backend_->Delete(*type, md.value("namespace", ""), md.value("name", ""), p);
    if (r) items.push_back(ApiBackend::Served(*type, item));
  }
  (*list)["items"] = items;
  return JsonResponse(200, *list);
}

Response ApiServer::AccessReview(const server::Request& req, const ResourceType& type,
                                 const User& user, const std::string& ns) {
  auto body = ParseBody(req, type.kind);
  if (!body) return ErrorResponse(body.error());
  if (!body->is_object())
    return ErrorResponse(
        BadRequest("the object provided is unrecognized (must be of type " + type.kind + ")"));
  Json spec = body->value("spec", Json::object());
  User subject;
  if (type.resource == "selfsubjectaccessreviews") {
    subject = user;
  } else {
    subject.name = spec.value("user", "");
    if (spec.contains("groups") && spec["groups"].is_array()) {
      subject.groups = spec["groups"].get<std::vector<std::string>>();
    }
    if (subject.name.empty() && subject.groups.empty()) {
      ApiError e =
          Invalid("", type.group, "",
                  {FieldError::Invalid("spec.user", "",
                                       "at least one of user or group must be specified")});
      e.details.erase("kind");
      e.details.erase("name");
      return ErrorResponse(e);
    }
    subject.anonymous = subject.name == "system:anonymous";
  }
  bool allowed = false;
  std::string reason;
  if (spec.contains("resourceAttributes")) {
    const Json ra = spec["resourceAttributes"];
    allowed = Authorized(subject, ra.value("verb", ""), ra.value("resource", ""),
                         ra.value("subresource", ""));
  } else if (spec.contains("nonResourceAttributes")) {
    std::string p = spec["nonResourceAttributes"].value("path", "");
    bool public_path = p == "/healthz" || p == "/readyz" || p == "/livez" || p == "/version";
    allowed = public_path || !subject.anonymous;
    if (public_path && subject.anonymous) {
      reason =
          "RBAC: allowed by ClusterRoleBinding \"system:public-info-viewer\" of ClusterRole "
          "\"system:public-info-viewer\" to Group \"system:unauthenticated\"";
    }
  }
  Json out = *body;
  out["kind"] = type.kind;
  out["apiVersion"] = type.ApiVersion();
  if (!out.contains("metadata")) out["metadata"] = Json::object();
  if (type.namespaced) out["metadata"]["namespace"] = ns;
  out["status"] = {{"allowed", allowed}};
  if (!reason.empty()) out["status"]["reason"] = reason;
  return JsonResponse(201, out);
}

Response ApiServer::Watch(const server::Request& req, server::StreamWriter& writer,
                          const ResourceType& type, const std::string& ns) {
  auto rv_param = req.Query("resourceVersion");
  std::string rv_match = req.Query("resourceVersionMatch").value_or("");
  bool send_initial = IsTrue(req.Query("sendInitialEvents"));
  bool bookmarks = IsTrue(req.Query("allowWatchBookmarks"));
  if (req.Query("sendInitialEvents") && rv_match != "NotOlderThan") {
    ApiError e =
        Invalid("ListOptions", "meta.k8s.io", "",
                {FieldError::Forbidden(
                    "resourceVersionMatch",
                    "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan")});
    e.details.erase("name");
    return ErrorResponse(e);
  }
  auto filter = backend_->MakeFilter(type, req.Query("labelSelector").value_or(""),
                                     req.Query("fieldSelector").value_or(""));
  if (!filter) return ErrorResponse(filter.error());
  std::int64_t start_rv = 0;
  if (rv_param && !rv_param->empty() && *rv_param != "0") {
    try {
      start_rv = std::stoll(*rv_param);
    } catch (...) {
      return ErrorResponse(BadRequest("invalid resource version: " + *rv_param));
    }
  }
  auto timeout = std::chrono::milliseconds(options_.default_watch_timeout);
  if (auto t = req.Query("timeoutSeconds")) {
    try {
      long long secs = std::stoll(*t);
      if (secs > 0) timeout = std::chrono::seconds(secs);
    } catch (...) {
    }
  }
  {
    std::lock_guard lock(mu_);
    if (max_watch_.count() > 0) timeout = std::min(timeout, max_watch_);
  }
  const std::string gr = type.GroupResourceName();
  const std::string key_ns = type.namespaced ? ns : "";
  const std::uint64_t epoch = watch_epoch_.load();

  server::Headers headers;
  headers.emplace("Content-Type", "application/json");
  headers.emplace("Cache-Control", "no-cache, private");
  if (!writer.Begin(200, headers)) return {};
  open_watches_.fetch_add(1);
  struct Closer {
    std::atomic<int>& n;
    ~Closer() { n.fetch_sub(1); }
  } closer{open_watches_};

  const bool table = WantsTable(req.Header("Accept"));
  const std::string include_object = req.Query("includeObject").value_or("Metadata");
  auto send = [&](const std::string& type_name, const Json& obj) {
    if (table && type_name != "BOOKMARK" && type_name != "ERROR") {
      Json t =
          ToTable(type, {obj}, obj.value("metadata", Json::object()).value("resourceVersion", ""),
                  include_object, clock_->Now());
      return writer.Write(Json{{"type", type_name}, {"object", t}}.dump() + "\n");
    }
    return writer.Write(Json{{"type", type_name}, {"object", obj}}.dump() + "\n");
  };
  auto in_scope = [&](const Json& obj) {
    if (key_ns.empty()) return true;
    return obj.value("metadata", Json::object()).value("namespace", "") == key_ns;
  };
  auto matches = [&](const Json& obj) {
    return !obj.is_null() && in_scope(obj) && (!*filter || (*filter)(obj));
  };

  std::int64_t last_rv = start_rv;
  if (start_rv == 0) {
    auto page = store_->List(gr, key_ns, 0, "", 0, *filter);
    if (!page) return {};
    for (const auto& item : page->items) {
      if (!send("ADDED", ApiBackend::Served(type, item))) return {};
    }
    last_rv = page->rv;
    if (send_initial && bookmarks) {
      send("BOOKMARK", {{"kind", type.kind},
                        {"apiVersion", type.ApiVersion()},
                        {"metadata",
                         {{"resourceVersion", std::to_string(last_rv)},
                          {"annotations", {{"k8s.io/initial-events-end", "true"}}}}}});
    }
  }
  auto now = std::chrono::steady_clock::now();
  const auto deadline = now + timeout;
  auto next_bookmark = now + options_.bookmark_interval;
  while (true) {
    if (watch_epoch_.load() != epoch || writer.Closed()) return {};
    // A deleted CRD ends its watches, after the DELETED events of its objects (which precede the
    // removal from the registry, so this batch holds them all).
    const bool type_gone =
        type.custom && !backend_->registry().Find(type.group, type.version, type.resource);
    auto batch = store_->EventsAfter(gr, last_rv);
    if (!batch) {
      send("ERROR", StatusJson(batch.error()));
      return {};
    }
    for (const auto& e : batch->events) {
      bool cur = matches(e.object);
      bool prev = matches(e.prev);
      std::string t;
      if (e.type == "ADDED") {
        if (cur) t = "ADDED";
      } else if (e.type == "MODIFIED") {
        if (cur && prev)
          t = "MODIFIED";
        else if (cur)
          t = "ADDED";
        else if (prev)
          t = "DELETED";
      } else if (e.type == "DELETED") {
        if (prev || cur) t = "DELETED";
      }
      if (!t.empty() && !send(t, ApiBackend::Served(type, e.object))) return {};
    }
    if (batch->up_to > last_rv && start_rv <= batch->up_to) last_rv = batch->up_to;
    if (type_gone) return {};
    now = std::chrono::steady_clock::now();
    if (now >= deadline) return {};
    if (bookmarks && now >= next_bookmark) {
      if (!send("BOOKMARK", {{"kind", type.kind},
                             {"apiVersion", type.ApiVersion()},
                             {"metadata", {{"resourceVersion", std::to_string(last_rv)}}}})) {
        return {};
      }
      next_bookmark = now + options_.bookmark_interval;
    }
    auto wake = std::min(
        {deadline, bookmarks ? next_bookmark : deadline, now + std::chrono::milliseconds(100)});
    store_->WaitForChange(last_rv, wake, writer.stop_token());
  }
}

}  // namespace tether::testing
