#include "testing/sim/workload_status.h"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace tether::sim {
namespace {

std::int64_t IntAt(const Json& obj, std::initializer_list<const char*> path, std::int64_t dflt) {
  const Json* cur = &obj;
  for (const char* key : path) {
    if (!cur->is_object()) return dflt;
    auto it = cur->find(key);
    if (it == cur->end()) return dflt;
    cur = &*it;
  }
  return cur->is_number_integer() ? cur->get<std::int64_t>() : dflt;
}

bool BoolAt(const Json& obj, std::initializer_list<const char*> path) {
  const Json* cur = &obj;
  for (const char* key : path) {
    if (!cur->is_object()) return false;
    auto it = cur->find(key);
    if (it == cur->end()) return false;
    cur = &*it;
  }
  return cur->is_boolean() && cur->get<bool>();
}

std::string Annotation(const Json& obj, std::string_view key) {
  const Json* annotations = nullptr;
  if (obj.contains("metadata") && obj["metadata"].is_object()) {
    auto it = obj["metadata"].find("annotations");
    if (it != obj["metadata"].end() && it->is_object()) annotations = &*it;
  }
  if (annotations == nullptr) return "";
  auto it = annotations->find(std::string(key));
  return it != annotations->end() && it->is_string() ? it->get<std::string>() : "";
}

// Sets `key` to `value` unless it is zero (Go's omitempty on int32 status fields).
void SetOmitEmpty(Json& status, const char* key, std::int64_t value) {
  if (value != 0) status[key] = value;
}

// A metav1-style condition; keeps the previous lastTransitionTime when the status is unchanged.
Json Condition(const Json& object, const std::string& type, bool ok, const std::string& reason,
               const std::string& message, TimePoint now, bool with_update_time) {
  std::string status = ok ? "True" : "False";
  std::string transition = FormatRfc3339(now);
  std::string update = transition;
  const Json* conditions = nullptr;
  if (object.contains("status") && object["status"].is_object() &&
      object["status"].contains("conditions") && object["status"]["conditions"].is_array()) {
    conditions = &object["status"]["conditions"];
  }
  if (conditions != nullptr) {
    for (const Json& c : *conditions) {
      if (!c.is_object() || c.value("type", "") != type) continue;
      if (c.value("status", "") == status) {
        transition = c.value("lastTransitionTime", transition);
        if (c.value("reason", "") == reason) update = c.value("lastUpdateTime", update);
      }
    }
  }
  Json c = {{"type", type}, {"status", status}, {"reason", reason}, {"message", message}};
  c["lastTransitionTime"] = transition;
  if (with_update_time) c["lastUpdateTime"] = update;
  return c;
}

std::int64_t DesiredReplicas(const Json& object) {
  return std::max<std::int64_t>(0, IntAt(object, {"spec", "replicas"}, 1));
}

std::int64_t Ready(std::int64_t desired, const std::optional<std::int64_t>& cap) {
  if (!cap) return desired;
  return std::clamp<std::int64_t>(*cap, 0, desired);
}

std::string Name(const Json& object) {
  return object.contains("metadata") ? object["metadata"].value("name", "") : "";
}

Json DeploymentStatus(const Json& obj, const StatusInput& in) {
  std::int64_t desired = DesiredReplicas(obj);
  std::int64_t ready = Ready(desired, in.ready_cap);
  Json s = Json::object();
  s["observedGeneration"] = IntAt(obj, {"metadata", "generation"}, 1);
  SetOmitEmpty(s, "replicas", desired);
  SetOmitEmpty(s, "updatedReplicas", desired);
  SetOmitEmpty(s, "readyReplicas", ready);
  SetOmitEmpty(s, "availableReplicas", ready);
  SetOmitEmpty(s, "unavailableReplicas", desired - ready);
  bool available = ready >= desired;
  s["conditions"] = Json::array(
      {Condition(obj, "Available", available,
                 available ? "MinimumReplicasAvailable" : "MinimumReplicasUnavailable",
                 available ? "Deployment has minimum availability."
                           : "Deployment does not have minimum availability.",
                 in.now, true),
       Condition(obj, "Progressing", true, "NewReplicaSetAvailable",
                 "ReplicaSet \"" + Name(obj) + "\" has successfully progressed.", in.now, true)});
  return s;
}

Json StatefulSetStatus(const Json& obj, const StatusInput& in) {
  std::int64_t desired = DesiredReplicas(obj);
  std::int64_t ready = Ready(desired, in.ready_cap);
  Json s = Json::object();
  s["observedGeneration"] = IntAt(obj, {"metadata", "generation"}, 1);
  s["replicas"] = desired;  // not omitempty in StatefulSetStatus
  SetOmitEmpty(s, "readyReplicas", ready);
  SetOmitEmpty(s, "currentReplicas", desired);
  SetOmitEmpty(s, "updatedReplicas", desired);
  s["availableReplicas"] = ready;
  s["currentRevision"] = Name(obj) + "-sim";
  s["updateRevision"] = Name(obj) + "-sim";
  s["collisionCount"] = 0;
  return s;
}

Json ReplicaSetStatus(const Json& obj, const StatusInput& in) {
  std::int64_t desired = DesiredReplicas(obj);
  std::int64_t ready = Ready(desired, in.ready_cap);
  Json s = Json::object();
  s["observedGeneration"] = IntAt(obj, {"metadata", "generation"}, 1);
  s["replicas"] = desired;  // not omitempty in ReplicaSetStatus
  SetOmitEmpty(s, "fullyLabeledReplicas", desired);
  SetOmitEmpty(s, "readyReplicas", ready);
  SetOmitEmpty(s, "availableReplicas", ready);
  return s;
}

bool NodeMatches(const Node& node, const Json& node_selector) {
  if (!node_selector.is_object()) return true;
  for (const auto& [key, value] : node_selector.items()) {
    auto it = node.labels.find(key);
    if (it == node.labels.end() || !value.is_string() || it->second != value.get<std::string>()) {
      return false;
    }
  }
  return true;
}

Json DaemonSetStatus(const Json& obj, const StatusInput& in) {
  Json selector = Json::object();
  if (obj.contains("spec") && obj["spec"].is_object() && obj["spec"].contains("template")) {
    const Json& tmpl = obj["spec"]["template"];
    if (tmpl.is_object() && tmpl.contains("spec") && tmpl["spec"].is_object()) {
      selector = tmpl["spec"].value("nodeSelector", Json::object());
    }
  }
  std::int64_t desired = 0;
  for (const Node& n : in.nodes) desired += NodeMatches(n, selector) ? 1 : 0;
  std::int64_t ready = Ready(desired, in.ready_cap);
  Json s = Json::object();
  s["observedGeneration"] = IntAt(obj, {"metadata", "generation"}, 1);
  s["currentNumberScheduled"] = desired;
  s["numberMisscheduled"] = 0;
  s["desiredNumberScheduled"] = desired;
  s["numberReady"] = ready;
  SetOmitEmpty(s, "updatedNumberScheduled", desired);
  SetOmitEmpty(s, "numberAvailable", ready);
  SetOmitEmpty(s, "numberUnavailable", desired - ready);
  return s;
}

Json JobStatus(const Json& obj, const StatusInput& in) {
  bool suspended = BoolAt(obj, {"spec", "suspend"});
  std::int64_t parallelism = std::max<std::int64_t>(0, IntAt(obj, {"spec", "parallelism"}, 1));
  std::int64_t active = suspended ? 0 : parallelism;
  Json s = Json::object();
  SetOmitEmpty(s, "active", active);
  s["ready"] = Ready(active, in.ready_cap);
  s["terminating"] = 0;
  s["uncountedTerminatedPods"] = Json::object();
  if (suspended) {
    s["conditions"] = Json::array(
        {Condition(obj, "Suspended", true, "JobSuspended", "Job suspended", in.now, false)});
    s["conditions"][0]["lastProbeTime"] = s["conditions"][0]["lastTransitionTime"];
  } else {
    // Keep the start time the Job first ran with.
    std::string start = FormatRfc3339(in.now);
    if (obj.contains("status") && obj["status"].is_object()) {
      start = obj["status"].value("startTime", start);
    }
    s["startTime"] = start;
  }
  return s;
}

Json CronJobStatus(const Json& obj, const StatusInput& in) {
  Json s = Json::object();
  if (!BoolAt(obj, {"spec", "suspend"})) {
    std::string ns = obj.contains("metadata") && obj["metadata"].is_object()
                         ? obj["metadata"].value("namespace", "")
                         : "";
    s["active"] = Json::array({{{"apiVersion", "batch/v1"},
                                {"kind", "Job"},
                                {"name", Name(obj) + "-sim"},
                                {"namespace", ns}}});
    std::string last = FormatRfc3339(in.now);
    if (obj.contains("status") && obj["status"].is_object()) {
      last = obj["status"].value("lastScheduleTime", last);
    }
    s["lastScheduleTime"] = last;
  }
  return s;
}

Json RolloutStatus(const Json& obj, const StatusInput& in) {
  std::int64_t desired = DesiredReplicas(obj);
  std::int64_t ready = Ready(desired, in.ready_cap);
  Json s = Json::object();
  // Argo Rollouts publishes observedGeneration as a string.
  s["observedGeneration"] = std::to_string(IntAt(obj, {"metadata", "generation"}, 1));
  s["replicas"] = desired;
  s["updatedReplicas"] = desired;
  s["readyReplicas"] = ready;
  s["availableReplicas"] = ready;
  std::string phase = Annotation(obj, kRolloutPhaseAnnotation);
  if (phase.empty()) {
    if (BoolAt(obj, {"spec", "paused"})) {
      phase = "Paused";
    } else {
      phase = ready >= desired ? "Healthy" : "Degraded";
    }
  }
  s["phase"] = phase;
  if (phase == "Degraded") s["message"] = "ProgressDeadlineExceeded: pods are not ready";
  return s;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

std::string_view KindName(Kind kind) {
  switch (kind) {
    case Kind::kDeployment:
      return "Deployment";
    case Kind::kStatefulSet:
      return "StatefulSet";
    case Kind::kReplicaSet:
      return "ReplicaSet";
    case Kind::kDaemonSet:
      return "DaemonSet";
    case Kind::kJob:
      return "Job";
    case Kind::kCronJob:
      return "CronJob";
    case Kind::kRollout:
      return "Rollout";
  }
  return "";
}

std::optional<Kind> ParseKind(std::string_view s) {
  std::string lower = Lower(s);
  for (Kind k : kAllKinds) {
    if (lower == Lower(KindName(k)) || lower == ResourceOf(k).resource) return k;
  }
  return std::nullopt;
}

kube::Resource ResourceOf(Kind kind) {
  switch (kind) {
    case Kind::kDeployment:
      return kube::resources::Deployments();
    case Kind::kStatefulSet:
      return kube::resources::StatefulSets();
    case Kind::kReplicaSet:
      return kube::resources::ReplicaSets();
    case Kind::kDaemonSet:
      return kube::resources::DaemonSets();
    case Kind::kJob:
      return kube::resources::Jobs();
    case Kind::kCronJob:
      return kube::resources::CronJobs();
    case Kind::kRollout:
      return kube::Resource{"argoproj.io", "v1alpha1", "rollouts", "Rollout", true};
  }
  return {};
}

std::vector<Node> DefaultNodes() {
  return {Node{"sim-node-1",
               {{"kubernetes.io/hostname", "sim-node-1"},
                {"kubernetes.io/os", "linux"},
                {"kubernetes.io/arch", "amd64"}}}};
}

std::optional<std::int64_t> ReadyCap(const Json& object, std::optional<std::int64_t> override_cap) {
  if (override_cap) return override_cap;
  std::string value = Annotation(object, kReadyAnnotation);
  std::int64_t cap = 0;
  auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), cap);
  if (value.empty() || ec != std::errc() || ptr != value.data() + value.size() || cap < 0) {
    return std::nullopt;
  }
  return cap;
}

Json ComputeStatus(Kind kind, const Json& object, const StatusInput& in) {
  switch (kind) {
    case Kind::kDeployment:
      return DeploymentStatus(object, in);
    case Kind::kStatefulSet:
      return StatefulSetStatus(object, in);
    case Kind::kReplicaSet:
      return ReplicaSetStatus(object, in);
    case Kind::kDaemonSet:
      return DaemonSetStatus(object, in);
    case Kind::kJob:
      return JobStatus(object, in);
    case Kind::kCronJob:
      return CronJobStatus(object, in);
    case Kind::kRollout:
      return RolloutStatus(object, in);
  }
  return Json::object();
}

Json StatusMergePatch(const Json& current, const Json& desired) {
  const Json cur = current.is_object() ? current : Json::object();
  if (cur == desired) return nullptr;
  Json patch = desired;
  for (const auto& [key, value] : cur.items()) {
    if (!desired.contains(key)) patch[key] = nullptr;
  }
  return patch;
}

}  // namespace tether::sim
