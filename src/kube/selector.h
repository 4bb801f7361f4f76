// Kubernetes label and field selectors, with kube-apiserver's exact grammar, validation and
// error messages (k8s.io/apimachinery labels.Parse / fields.ParseSelector and the per-kind field
// label conversions of kube-apiserver v1.34).
//
// LabelSelector and FieldSelector are immutable value types: parse once, then call Matches() from
// any number of threads concurrently. All functions here are pure (no I/O).
//
// Errors are returned as tether::Error with code kInvalid, http_status 400 and reason
// "BadRequest", and a message that is byte-for-byte the one kube-apiserver puts in its 400
// Status, so the embedded API server can return it unchanged.
#pragma once

#include <map>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace tether::kube {

using Json = nlohmann::json;

// ---------------------------------------------------------------------------------------------
// Name validation (k8s.io/apimachinery/pkg/util/validation). Each returns the list of problems,
// empty when valid; messages are kube-apiserver's.

// A label/annotation key: optional DNS-1123 subdomain prefix + "/" + name of at most 63
// alphanumeric, '-', '_', '.' characters starting and ending with an alphanumeric.
std::vector<std::string> IsQualifiedName(std::string_view value);
// A label value: empty, or at most 63 characters like the name part of a qualified name.
std::vector<std::string> IsValidLabelValue(std::string_view value);
// A lower-case RFC 1123 subdomain of at most 253 characters (e.g. "example.com").
std::vector<std::string> IsDNS1123Subdomain(std::string_view value);

// ---------------------------------------------------------------------------------------------
// Label selectors.

enum class LabelOperator {
  kEquals,        // a=b
  kDoubleEquals,  // a==b
  kNotEquals,     // a!=b
  kIn,            // a in (x,y)
  kNotIn,         // a notin (x,y)
  kExists,        // a
  kDoesNotExist,  // !a
  kGreaterThan,   // a>5 (integer label values only)
  kLessThan,      // a<5
};

using Labels = std::map<std::string, std::string, std::less<>>;

struct LabelRequirement {
  std::string key;
  LabelOperator op = LabelOperator::kExists;
  std::vector<std::string> values;  // sorted, without duplicates

  // Builds and validates a requirement like labels.NewRequirement (the message names the
  // offending field as "key", "values[i][key]", ...). `values` is sorted and deduplicated.
  static Result<LabelRequirement> Make(std::string key, LabelOperator op,
                                       std::vector<std::string> values);

  [[nodiscard]] bool Matches(const Labels& labels) const;
  // "a in (x,y)", "!a", "a!=b" ...
  [[nodiscard]] std::string String() const;

  friend bool operator==(const LabelRequirement&, const LabelRequirement&) = default;
};

class LabelSelector {
 public:
  // Matches every object (the empty selector "").
  LabelSelector() = default;
  static LabelSelector Everything() { return {}; }
  // Matches no object (a nil *metav1.LabelSelector).
  static LabelSelector Nothing();

  // Parses the string form used in `?labelSelector=` and `kubectl -l`. On failure the message is
  // kube-apiserver's, e.g. "unable to parse requirement: found '', expected: ',' or ')'".
  static Result<LabelSelector> Parse(std::string_view selector);

  // Builds from a metav1.LabelSelector JSON object ({matchLabels, matchExpressions}), like
  // metav1.LabelSelectorAsSelector: null → Nothing(), {} → Everything().
  static Result<LabelSelector> FromJson(const Json& label_selector);

  // Builds from exact-match labels (e.g. a Service's spec.selector map). Validates them.
  static Result<LabelSelector> FromLabels(const Labels& labels);

  [[nodiscard]] bool Matches(const Labels& labels) const;
  // `labels` is an object's metadata.labels (an object of strings, or null/missing = no labels).
  [[nodiscard]] bool MatchesJson(const Json& labels) const;
  // Convenience: matches the labels of a whole Kubernetes object.
  [[nodiscard]] bool MatchesObject(const Json& object) const;

  // True when this selector matches everything.
  [[nodiscard]] bool Empty() const { return !nothing_ && requirements_.empty(); }
  [[nodiscard]] bool IsNothing() const { return nothing_; }

  // Canonical string form: requirements sorted by key, values sorted, joined with ",".
  // Parse(String()) gives back an equal selector. Nothing() renders as "" (as in Go).
  [[nodiscard]] std::string String() const;

  // The metav1.LabelSelector JSON form (metav1.ParseToLabelSelector): = and == go to
  // matchLabels, the rest to matchExpressions (!= becomes NotIn). Fails for > and <, which the
  // structured form cannot express, and for Nothing().
  [[nodiscard]] Result<Json> ToJson() const;

  [[nodiscard]] const std::vector<LabelRequirement>& requirements() const { return requirements_; }

  friend bool operator==(const LabelSelector&, const LabelSelector&) = default;

 private:
  std::vector<LabelRequirement> requirements_;  // stable-sorted by key
  bool nothing_ = false;
};

// ---------------------------------------------------------------------------------------------
// Field selectors.

struct FieldRequirement {
  std::string field;     // e.g. "spec.nodeName"
  bool negated = false;  // != instead of = / ==
  std::string value;     // unescaped

  [[nodiscard]] std::string String() const;  // value re-escaped
  friend bool operator==(const FieldRequirement&, const FieldRequirement&) = default;
};

class FieldSelector {
 public:
  FieldSelector() = default;  // matches everything

  // Parses "a=b,c!=d" (terms sorted like fields.ParseSelector; `\,` `\=` `\\` escape a value).
  // Does not check which fields exist: see ForKind.
  static Result<FieldSelector> Parse(std::string_view selector);

  // Checks every field against the fields kube-apiserver supports for this kind and maps legacy
  // names (pods: spec.host → spec.nodeName). `group` is the API group ("" for core, "apps",
  // "batch", ...). For custom resources pass is_custom_resource, cluster_scoped and the CRD's
  // selectableFields (JSON paths without the leading dot, e.g. "spec.color"). The error is the
  // exact 400 message, e.g. "\"data.k\" is not a known field selector: only \"metadata.name\",
  // \"metadata.namespace\"" or "field label not supported: spec.foo".
  [[nodiscard]] Result<FieldSelector> ForKind(
      std::string_view group, std::string_view kind, bool is_custom_resource = false,
      bool cluster_scoped = false, const std::vector<std::string>& selectable_fields = {}) const;

  // Evaluates against a Kubernetes object (JSON, external/v1 form). Field values are those
  // kube-apiserver indexes (see SelectableFieldValue).
  [[nodiscard]] bool Matches(const Json& object) const;

  [[nodiscard]] bool Empty() const { return requirements_.empty(); }
  // "a=b,c!=d" with values escaped; Parse(String()) round-trips.
  [[nodiscard]] std::string String() const;
  // The value required for `field` by an "=" term, if any (like
  // fields.Selector.RequiresExactMatch).
  [[nodiscard]] std::optional<std::string> RequiresExactMatch(std::string_view field) const;

  [[nodiscard]] const std::vector<FieldRequirement>& requirements() const { return requirements_; }
  // Same set of requirements, in any order (a conjunction is unordered).
  friend bool operator==(const FieldSelector& a, const FieldSelector& b);

 private:
  std::vector<FieldRequirement> requirements_;  // in kube's order: sorted by raw term text
};

// Escapes a literal for use as a field selector value ("\" → "\\", "," → "\,", "=" → "\=").
std::string EscapeFieldValue(std::string_view value);
// Inverse of EscapeFieldValue; kube's errors for bad escapes and unescaped ',' / '='.
Result<std::string> UnescapeFieldValue(std::string_view value);

// Converts one field label for a kind like kube-apiserver's field label conversion functions;
// returns the (possibly renamed) label or the exact 400 error. Arguments as in ForKind.
Result<std::string> ConvertFieldLabel(std::string_view group, std::string_view kind,
                                      std::string_view label, bool is_custom_resource = false,
                                      bool cluster_scoped = false,
                                      const std::vector<std::string>& selectable_fields = {});

// The string value kube-apiserver's field index holds for `field` on `object`: strings as is,
// booleans "true"/"false", integers in decimal, missing fields "" (so "spec.nodeName=" selects
// unscheduled pods). Special cases: pods spec.hostNetwork defaults to "false", status.podIP is
// status.podIPs[0].ip; core events "source" is source.component; jobs "status.successful" is
// status.succeeded.
std::string SelectableFieldValue(const Json& object, std::string_view field);

}  // namespace tether::kube
