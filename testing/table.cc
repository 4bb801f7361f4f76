#include "testing/table.h"

#include <cctype>
#include <cstdint>
#include <string>

namespace tether::testing {

namespace {

constexpr const char* kNameDescription =
    "Name must be unique within a namespace. Is required when creating resources, although some "
    "resources may allow a client to request the generation of an appropriate name "
    "automatically. Name is primarily intended for creation idempotence and configuration "
    "definition. Cannot be updated. More info: "
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";

// A member object of `o`, or an empty object (const operator[] must not see a missing key).
const Json& Sub(const Json& o, const char* key) {
  static const Json kEmpty = Json::object();
  auto it = o.find(key);
  return it != o.end() && it->is_object() ? *it : kEmpty;
}

Json Column(const std::string& name, const std::string& type, const std::string& description,
            int priority = 0, const std::string& format = "") {
  return {{"name", name},
          {"type", type},
          {"format", format},
          {"description", description},
          {"priority", priority}};
}

Json NameColumn() { return Column("Name", "string", kNameDescription, 0, "name"); }
Json AgeColumn() {
  return Column(
      "Age", "string",
      "CreationTimestamp is a timestamp representing the server time when this object was created. "
      "It is not guaranteed to be set in happens-before order across separate operations. Clients "
      "may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by "
      "the system. Read-only. Null for lists. More info: "
      "https://git.k8s.io/community/contributors/devel/sig-architecture/"
      "api-conventions.md#metadata");
}

std::int64_t Int(const Json& obj, std::initializer_list<const char*> path) {
  const Json* cur = &obj;
  for (const char* key : path) {
    if (!cur->is_object() || !cur->contains(key)) return 0;
    cur = &(*cur)[key];
  }
  return cur->is_number_integer() ? cur->get<std::int64_t>() : 0;
}

std::string Str(const Json& obj, std::initializer_list<const char*> path) {
  const Json* cur = &obj;
  for (const char* key : path) {
    if (!cur->is_object() || !cur->contains(key)) return "";
    cur = &(*cur)[key];
  }
  return cur->is_string() ? cur->get<std::string>() : "";
}

std::string OrNone(std::string s) { return s.empty() ? "<none>" : s; }

std::string Since(const std::string& timestamp, TimePoint now) {
  TimePoint t;
  if (timestamp.empty() || !ParseRfc3339(timestamp, &t)) return "<unknown>";
  return HumanDuration(now - t);
}

std::string Age(const Json& obj, TimePoint now) {
  return Since(Str(obj, {"metadata", "creationTimestamp"}), now);
}

// Comma-joined container names and images of a pod template (or pod) spec.
std::pair<std::string, std::string> ContainersAndImages(const Json& pod_spec) {
  std::string names, images;
  for (const auto& c : pod_spec.value("containers", Json::array())) {
    names += (names.empty() ? "" : ",") + c.value("name", "");
    images += (images.empty() ? "" : ",") + c.value("image", "");
  }
  return {names, images};
}

std::string SelectorString(const Json& selector) {
  std::string out;
  const Json labels = selector.value("matchLabels", Json::object());
  for (const auto& [k, v] : labels.items()) {
    out += (out.empty() ? "" : ",") + k + "=" + (v.is_string() ? v.get<std::string>() : v.dump());
  }
  return OrNone(out);
}

std::string PodStatus(const Json& pod) {
  const Json spec = pod.value("spec", Json::object());
  const Json status = pod.value("status", Json::object());
  if (pod.value("metadata", Json::object()).contains("deletionTimestamp")) return "Terminating";
  if (!spec.value("schedulingGates", Json::array()).empty() && spec.value("nodeName", "").empty()) {
    return "SchedulingGated";
  }
  std::string reason = status.value("reason", "");
  if (!reason.empty()) return reason;
  for (const auto& cs : status.value("containerStatuses", Json::array())) {
    const Json state = cs.value("state", Json::object());
    if (state.contains("waiting") && !state["waiting"].value("reason", "").empty()) {
      return state["waiting"]["reason"].get<std::string>();
    }
    if (state.contains("terminated") && !state["terminated"].value("reason", "").empty()) {
      return state["terminated"]["reason"].get<std::string>();
    }
  }
  return OrNone(status.value("phase", "Pending"));
}

struct Printer {
  Json columns;
  std::function<Json(const Json&, TimePoint)> cells;
};

Printer BuiltinPrinter(const ResourceType& type) {
  const std::string gr = type.GroupResourceName();
  if (gr == "pods") {
    return {Json::array(
                {NameColumn(),
                 Column("Ready", "string",
                        "The aggregate readiness state of this pod for accepting traffic."),
                 Column("Status", "string", "The aggregate status of the containers in this pod."),
                 Column("Restarts", "string",
                        "The number of times the containers in this pod have been restarted and "
                        "when the last container in this pod has restarted."),
                 AgeColumn(),
                 Column("IP", "string",
                        "podIP address allocated to the pod. Routable at least within the cluster. "
                        "Empty if not yet allocated.",
                        1),
                 Column("Node", "string",
                        "NodeName indicates in which node this pod is scheduled. If empty, this "
                        "pod is a candidate for scheduling by the scheduler defined in "
                        "schedulerName. Once this field is set, the kubelet for this node becomes "
                        "responsible for the lifecycle of this pod. This field should not be used "
                        "to express a desire for the pod to be scheduled on a specific node. "
                        "https://kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/"
                        "#nodename",
                        1),
                 Column("Nominated Node", "string",
                        "nominatedNodeName is set only when this pod preempts other pods on the "
                        "node, but it cannot be scheduled right away as preemption victims receive "
                        "their graceful termination periods. This field does not guarantee that "
                        "the pod will be scheduled on this node. Scheduler may decide to place the "
                        "pod elsewhere if other nodes become available sooner. Scheduler may also "
                        "decide to give the resources on this node to a higher priority pod that "
                        "is created after preemption. As a result, this field may be different "
                        "than PodSpec.nodeName when the pod is scheduled.",
                        1),
                 Column("Readiness Gates", "string",
                        "If specified, all readiness gates will be evaluated for pod readiness. A "
                        "pod is ready when all its containers are ready AND all conditions "
                        "specified in the readiness gates have status equal to \"True\" More info: "
                        "https://git.k8s.io/enhancements/keps/sig-network/580-pod-readiness-gates",
                        1)}),
            [](const Json& o, TimePoint now) {
              const Json status = o.value("status", Json::object());
              const Json statuses = status.value("containerStatuses", Json::array());
              std::int64_t ready = 0, restarts = 0;
              for (const auto& cs : statuses) {
                ready += cs.value("ready", false) ? 1 : 0;
                restarts += cs.value("restartCount", std::int64_t{0});
              }
              const size_t total =
                  o.value("spec", Json::object()).value("containers", Json::array()).size();
              return Json::array({Sub(o, "metadata").value("name", ""),
                                  std::to_string(ready) + "/" + std::to_string(total), PodStatus(o),
                                  std::to_string(restarts), Age(o, now),
                                  OrNone(Str(o, {"status", "podIP"})),
                                  OrNone(Str(o, {"spec", "nodeName"})),
                                  OrNone(Str(o, {"status", "nominatedNodeName"})), "<none>"});
            }};
  }
  if (gr == "deployments.apps" || gr == "statefulsets.apps") {
    const bool deployment = gr == "deployments.apps";
    Json cols = Json::array(
        {NameColumn(), Column("Ready", "string", "Number of the pod with ready state")});
    if (deployment) {
      cols.push_back(Column("Up-to-date", "integer",
                            "Total number of non-terminated pods targeted by this deployment that "
                            "have the desired template spec."));
      cols.push_back(Column("Available", "integer",
                            "Total number of available pods (ready for at least minReadySeconds) "
                            "targeted by this deployment."));
    }
    cols.push_back(AgeColumn());
    cols.push_back(Column("Containers", "string", "Names of each container in the template.", 1));
    cols.push_back(
        Column("Images", "string", "Images referenced by each container in the template.", 1));
    if (deployment) cols.push_back(Column("Selector", "string", "Label selector for pods.", 1));
    return {cols, [deployment](const Json& o, TimePoint now) {
              std::int64_t desired = Sub(o, "spec").value("replicas", std::int64_t{1});
              Json row = Json::array({Sub(o, "metadata").value("name", ""),
                                      std::to_string(Int(o, {"status", "readyReplicas"})) + "/" +
                                          std::to_string(desired)});
              if (deployment) {
                row.push_back(Int(o, {"status", "updatedReplicas"}));
                row.push_back(Int(o, {"status", "availableReplicas"}));
              }
              row.push_back(Age(o, now));
              auto [names, images] = ContainersAndImages(
                  Sub(o, "spec").value("template", Json::object()).value("spec", Json::object()));
              row.push_back(names);
              row.push_back(images);
              if (deployment)
                row.push_back(SelectorString(Sub(o, "spec").value("selector", Json::object())));
              return row;
            }};
  }
  if (gr == "replicasets.apps") {
    return {Json::array({NameColumn(), Column("Desired", "integer", "Number of desired pods."),
                         Column("Current", "integer", "Number of actual replicas."),
                         Column("Ready", "integer", "Number of ready replicas."), AgeColumn()}),
            [](const Json& o, TimePoint now) {
              return Json::array({Sub(o, "metadata").value("name", ""),
                                  Sub(o, "spec").value("replicas", std::int64_t{1}),
                                  Int(o, {"status", "replicas"}),
                                  Int(o, {"status", "readyReplicas"}), Age(o, now)});
            }};
  }
  if (gr == "daemonsets.apps") {
    return {
        Json::array({NameColumn(),
                     Column("Desired", "integer", "Desired number of scheduled pods."),
                     Column("Current", "integer", "Number of scheduled pods."),
                     Column("Ready", "integer", "Number of ready pods."),
                     Column("Up-to-date", "integer", "Number of updated pods."),
                     Column("Available", "integer", "Number of available pods."),
                     Column("Node Selector", "string", "The node selector of the pod template."),
                     AgeColumn()}),
        [](const Json& o, TimePoint now) {
          std::string selector;
          const Json node_selector = Sub(o, "spec")
                                         .value("template", Json::object())
                                         .value("spec", Json::object())
                                         .value("nodeSelector", Json::object());
          for (const auto& [k, v] : node_selector.items()) {
            selector += (selector.empty() ? "" : ",") + k + "=" +
                        (v.is_string() ? v.get<std::string>() : v.dump());
          }
          return Json::array(
              {Sub(o, "metadata").value("name", ""), Int(o, {"status", "desiredNumberScheduled"}),
               Int(o, {"status", "currentNumberScheduled"}), Int(o, {"status", "numberReady"}),
               Int(o, {"status", "updatedNumberScheduled"}), Int(o, {"status", "numberAvailable"}),
               OrNone(selector), Age(o, now)});
        }};
  }
  if (gr == "jobs.batch") {
    return {Json::array(
                {NameColumn(), Column("Status", "string", "Status of the job."),
                 Column("Completions", "string", "The completed pods and the desired completions."),
                 AgeColumn()}),
            [](const Json& o, TimePoint now) {
              std::string status = "Running";
              if (Sub(o, "spec").value("suspend", false)) status = "Suspended";
              for (const auto& c :
                   o.value("status", Json::object()).value("conditions", Json::array())) {
                if (c.value("status", "") != "True") continue;
                if (c.value("type", "") == "Complete") status = "Complete";
                if (c.value("type", "") == "Failed") status = "Failed";
              }
              return Json::array(
                  {Sub(o, "metadata").value("name", ""), status,
                   std::to_string(Int(o, {"status", "succeeded"})) + "/" +
                       std::to_string(Sub(o, "spec").value("completions", std::int64_t{1})),
                   Age(o, now)});
            }};
  }
  if (gr == "cronjobs.batch") {
    return {
        Json::array({NameColumn(), Column("Schedule", "string", "The schedule in Cron format."),
                     Column("Timezone", "string", "The time zone of the schedule."),
                     Column("Suspend", "boolean", "Whether the cron job is suspended."),
                     Column("Active", "integer", "Number of running jobs."),
                     Column("Last Schedule", "string", "When the job was last scheduled."),
                     AgeColumn()}),
        [](const Json& o, TimePoint now) {
          std::string last = Str(o, {"status", "lastScheduleTime"});
          return Json::array(
              {Sub(o, "metadata").value("name", ""), Sub(o, "spec").value("schedule", ""),
               OrNone(Sub(o, "spec").value("timeZone", "")), Sub(o, "spec").value("suspend", false),
               static_cast<std::int64_t>(
                   o.value("status", Json::object()).value("active", Json::array()).size()),
               last.empty() ? "<none>" : Since(last, now), Age(o, now)});
        }};
  }
  if (gr == "namespaces") {
    return {Json::array({NameColumn(), Column("Status", "string", "The status of the namespace."),
                         AgeColumn()}),
            [](const Json& o, TimePoint now) {
              return Json::array(
                  {Sub(o, "metadata").value("name", ""), Str(o, {"status", "phase"}), Age(o, now)});
            }};
  }
  return {Json::array({NameColumn(), AgeColumn()}), [](const Json& o, TimePoint now) {
            return Json::array({Sub(o, "metadata").value("name", ""), Age(o, now)});
          }};
}

Printer CustomPrinter(const ResourceType& type) {
  Json cols = Json::array({NameColumn()});
  for (const auto& c : type.printer_columns) {
    cols.push_back(Column(c.value("name", ""), c.value("type", "string"),
                          c.value("description", ""), c.value("priority", 0),
                          c.value("format", "")));
  }
  return {cols, [columns = type.printer_columns](const Json& o, TimePoint now) {
            Json row = Json::array({Sub(o, "metadata").value("name", "")});
            for (const auto& c : columns) {
              Json v = ColumnValue(o, c.value("jsonPath", ""));
              if (v.is_null()) {
                row.push_back(nullptr);
              } else if (c.value("type", "") == "date" && v.is_string()) {
                row.push_back(Since(v.get<std::string>(), now));
              } else if (c.value("type", "") == "string" && !v.is_string()) {
                row.push_back(v.dump());
              } else {
                row.push_back(v);
              }
            }
            return row;
          }};
}

}  // namespace

bool WantsTable(std::string_view accept) {
  return accept.find("as=Table") != std::string_view::npos &&
         accept.find("g=meta.k8s.io") != std::string_view::npos;
}

std::string HumanDuration(Duration d) {
  using std::chrono::duration_cast;
  const auto seconds = duration_cast<std::chrono::seconds>(d).count();
  if (seconds < -1) return "<invalid>";
  if (seconds < 0) return "0s";
  if (seconds < 60 * 2) return std::to_string(seconds) + "s";
  const auto minutes = seconds / 60;
  if (minutes < 10) {
    const auto s = seconds % 60;
    return std::to_string(minutes) + "m" + (s == 0 ? "" : std::to_string(s) + "s");
  }
  if (minutes < 60 * 3) return std::to_string(minutes) + "m";
  const auto hours = minutes / 60;
  if (hours < 8) {
    const auto m = minutes % 60;
    return std::to_string(hours) + "h" + (m == 0 ? "" : std::to_string(m) + "m");
  }
  if (hours < 48) return std::to_string(hours) + "h";
  if (hours < 24 * 8) {
    const auto h = hours % 24;
    return std::to_string(hours / 24) + "d" + (h == 0 ? "" : std::to_string(h) + "h");
  }
  if (hours < 24 * 365 * 2) return std::to_string(hours / 24) + "d";
  const auto days = hours / 24;
  if (hours < 24 * 365 * 8) {
    const auto dd = days % 365;
    return std::to_string(days / 365) + "y" + (dd == 0 ? "" : std::to_string(dd) + "d");
  }
  return std::to_string(days / 365) + "y";
}

Json ColumnValue(const Json& object, std::string_view path) {
  const Json* cur = &object;
  size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '.') {
      ++i;
      size_t end = i;
      while (end < path.size() && path[end] != '.' && path[end] != '[') ++end;
      const std::string key(path.substr(i, end - i));
      if (!cur->is_object() || !cur->contains(key)) return nullptr;
      cur = &(*cur)[key];
      i = end;
    } else if (path[i] == '[') {
      size_t end = path.find(']', i);
      if (end == std::string_view::npos) return nullptr;
      std::string inner(path.substr(i + 1, end - i - 1));
      i = end + 1;
      if (inner.size() >= 2 && (inner.front() == '\'' || inner.front() == '"')) {
        const std::string key = inner.substr(1, inner.size() - 2);
        if (!cur->is_object() || !cur->contains(key)) return nullptr;
        cur = &(*cur)[key];
        continue;
      }
      if (inner.empty() || !std::all_of(inner.begin(), inner.end(), ::isdigit)) return nullptr;
      const size_t index = std::stoul(inner);
      if (!cur->is_array() || index >= cur->size()) return nullptr;
      cur = &(*cur)[index];
    } else {
      return nullptr;
    }
  }
  return *cur;
}

Json ToTable(const ResourceType& type, const std::vector<Json>& objects,
             const std::string& resource_version, const std::string& include_object,
             TimePoint now) {
  const Printer printer = type.custom ? CustomPrinter(type) : BuiltinPrinter(type);
  Json rows = Json::array();
  for (const auto& o : objects) {
    Json row = {{"cells", printer.cells(o, now)}};
    if (include_object == "Object") {
      row["object"] = o;
    } else if (include_object != "None") {
      Json md = o.value("metadata", Json::object());
      row["object"] = {
          {"kind", "PartialObjectMetadata"}, {"apiVersion", "meta.k8s.io/v1"}, {"metadata", md}};
    }
    rows.push_back(std::move(row));
  }
  Json table = {{"kind", "Table"},
                {"apiVersion", "meta.k8s.io/v1"},
                {"metadata", Json::object()},
                {"columnDefinitions", printer.columns},
                {"rows", rows}};
  if (!resource_version.empty()) table["metadata"]["resourceVersion"] = resource_version;
  return table;
}

}  // namespace tether::testing
