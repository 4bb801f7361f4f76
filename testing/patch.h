// Kubernetes patch algorithms as pure functions on JSON documents: RFC 6902 JSON patch,
// RFC 7386 JSON merge patch, strategic merge patch for the built-in kinds tether touches, and
// server-side apply with managedFields ownership and conflict detection.
//
// Used by the embedded API server (testing/) and by controllers that want to predict a patch's
// result. No I/O; every function is reentrant and thread-safe (inputs are taken by const
// reference and never retained).
//
// Failures come back as tether::Error with code, http_status and reason set to what
// kube-apiserver v1.34 answers for the same request (e.g. a failed JSON patch `test` is 422
// Invalid "the server rejected our request due to an error in our request"), so the API server
// can turn them into metav1.Status bodies unchanged. Where kube-apiserver hides the cause, an
// optional `detail` out-parameter gives the precise reason for logs and tests.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace tether::testing {

using Json = nlohmann::json;

// kube-apiserver's limit on operations in one JSON patch (more → 413).
inline constexpr size_t kMaxJsonPatchOperations = 10000;

// ---------------------------------------------------------------------------- JSON patch --

// Applies an RFC 6902 patch (add, remove, replace, move, copy, test) to `doc`.
//   * `patch` not an array of operation objects → 400 BadRequest "error decoding patch: json:
//     cannot unmarshal object into Go value of type []handlers.jsonPatchOp" (Go's wording);
//   * more than kMaxJsonPatchOperations → 413 RequestEntityTooLarge;
//   * any operation failing (test mismatch, missing path, unknown op, bad index) → 422 Invalid
//     "the server rejected our request due to an error in our request", details in `detail`.
// Array indices follow the evanphx/json-patch library kube-apiserver uses ("-" appends;
// negative indices count from the end; the whole-document path "" is not a valid target).
Result<Json> ApplyJsonPatch(const Json& doc, const Json& patch, std::string* detail = nullptr);

// --------------------------------------------------------------------------- merge patch --

// Applies an RFC 7386 JSON merge patch: objects merge recursively, null deletes, anything else
// (lists included) replaces. A patch that is not a JSON object → 400 "Invalid JSON Patch"
// (kube-apiserver's answer).
Result<Json> ApplyMergePatch(const Json& doc, const Json& patch);

// Computes a merge patch that turns `from` into `to` (so ApplyMergePatch(from, result) == to
// whenever `to` contains no nulls inside objects).
Json CreateMergePatch(const Json& from, const Json& to);

// ------------------------------------------------------------------ strategic merge patch --

// True when kube-apiserver accepts application/strategic-merge-patch+json for this type: the
// built-in API groups. Custom resources (and unknown groups) get 415, see
// StrategicMergePatchUnsupported().
bool IsStrategicMergePatchSupported(std::string_view api_version, std::string_view kind);

// The 415 kube-apiserver returns for a strategic merge patch of a custom resource.
Error StrategicMergePatchUnsupported();

// Applies a Kubernetes strategic merge patch. Lists are merged according to the Kubernetes API
// types' patch strategies for the built-in kinds (Pod, Deployment, StatefulSet, DaemonSet,
// ReplicaSet, Job, CronJob, Node, Service, Namespace, PodTemplate, ...; any kind's metadata):
// containers/initContainers/ephemeralContainers/volumes/env/imagePullSecrets/schedulingGates/
// resourceClaims by name, ports by containerPort (Service ports by port), volumeMounts by
// mountPath, volumeDevices by devicePath, conditions/addresses by type, ownerReferences by uid,
// hostAliases/podIPs/hostIPs by ip, topologySpreadConstraints by topologyKey, finalizers as a
// merged set. Unknown kinds and fields replace lists like a merge patch. Merged lists keep
// kube's element order (new patch items first, then the live ones, interleaved by live order).
// Directives: "$patch": replace|delete (maps and list items) and replace (lists),
// "$deleteFromPrimitiveList/<f>", "$setElementOrder/<f>", "$retainKeys", null deletes.
// Errors: malformed directives → 400 BadRequest or 500 like kube-apiserver (message in the
// error, e.g. "map: map[image:x] does not contain declared merge key: name").
Result<Json> ApplyStrategicMergePatch(const Json& doc, const Json& patch,
                                      std::string_view api_version, std::string_view kind);

// --------------------------------------------------------------------- server-side apply --

struct ApplyConflict {
  std::string manager;  // as kube prints it: "\"alice\"" or "\"kubectl\" using v1 at <time>"
  std::string field;    // field path: ".data.shared", ".spec.containers[name=\"c\"].image"
};

struct ApplyOptions {
  std::string manager;      // fieldManager (required: empty → 422 like kube-apiserver)
  bool force = false;       // take ownership of conflicting fields instead of failing
  std::string now;          // RFC 3339 time stamped on the managedFields entry
  std::string subresource;  // "" or "status" / "scale": recorded on the managedFields entry
  // True for kinds with a status subresource: an apply to the main resource then ignores
  // `status`, and an apply to "status" considers only `status` (kube-apiserver reset fields).
  bool has_status_subresource = false;
  // When non-null and the apply conflicts, receives one entry per conflicting field (the
  // metav1.Status causes: reason FieldManagerConflict, message "conflict with <manager>").
  std::vector<ApplyConflict>* conflicts = nullptr;
};

// Server-side apply (application/apply-patch+yaml, already decoded to JSON):
//   * `live` null → the applied object is created as is;
//   * otherwise the applied configuration is merged into `live` with structural semantics
//     (maps merged, keyed lists of the built-in kinds merged by key, other lists atomic),
//     fields this manager applied before but no longer applies — and that nobody else owns —
//     are removed, and metadata.managedFields is updated (one "Apply" entry per manager,
//     FieldsV1 format; entries that own nothing are dropped).
// Ownership: a field owned by another manager whose live value differs from the applied one is
// a conflict → 409 Conflict "Apply failed with 1 conflict: conflict with \"alice\": .data.shared"
// unless `force`, which moves ownership to this manager. Same-value fields become shared.
// Other errors: missing apiVersion/kind → 400 "invalid object type: /, Kind=", missing manager
// → 422 "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required
// for apply patch". Fields changed by non-apply writes are only tracked if the caller records
// them (see RecordUpdateManagedFields).
Result<Json> ApplyServerSideApply(const Json* live, const Json& applied, const ApplyOptions& opts);

// Records an ordinary write (create/update/patch) by `manager` in managedFields the way
// kube-apiserver does: the fields whose value changed between `before` (null for create) and
// `after` become owned by an "Update" entry of `manager` (and stop being owned by others).
// Returns `after` with metadata.managedFields updated.
Json RecordUpdateManagedFields(const Json* before, const Json& after, std::string_view manager,
                               std::string_view api_version, std::string_view now,
                               std::string_view subresource = {});

}  // namespace tether::testing
