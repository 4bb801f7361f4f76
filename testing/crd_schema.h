// CrdSchema: one served version of a CustomResourceDefinition's structural OpenAPI v3 schema,
// applied to custom resources the way kube-apiserver applies it on every write:
//   1. Prune: fields the schema does not declare are dropped (outside
//      x-kubernetes-preserve-unknown-fields), at any depth; apiVersion/kind/metadata survive at the
//      root and in x-kubernetes-embedded-resource objects.
//   2. Default: `default` values are filled into absent fields (and inside filled defaults).
//   3. Validate: type, nullable, enum, minimum/maximum (exclusive), min/maxLength, pattern,
//      formats (date-time, int32/int64), min/maxItems, min/maxProperties, required,
//      x-kubernetes-int-or-string, x-kubernetes-list-type set/map uniqueness — with
//      kube-apiserver's field paths, reasons and messages.
//   4. x-kubernetes-validations: CEL rules with `self` (and `oldSelf` for transition rules, on
//      updates where the old value correlates), message / messageExpression / fieldPath /
//      reason. As in kube-apiserver, rules are skipped when a blocking schema error (type,
//      enum, required, too long, too many) was found, and one cause says so.
//
// Compile() rejects a schema whose rules do not compile or whose patterns are not valid regular
// expressions, with a 422 cause pointing at the rule, as kube-apiserver does on CRD create.
//
// Thread-safety: immutable after Compile(); every method is const and safe from any thread.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "testing/api_status.h"

namespace tether::testing {

struct SchemaNode;

class CrdSchema {
 public:
  // `schema` is a version's `schema.openAPIV3Schema`; `field` the CRD field path it came from
  // (for error messages).
  static ApiResult<std::shared_ptr<const CrdSchema>> Compile(const Json& schema,
                                                             const std::string& field);
  ~CrdSchema();
  CrdSchema(const CrdSchema&) = delete;
  CrdSchema& operator=(const CrdSchema&) = delete;

  // Drops undeclared fields; returns their paths ("spec.extra"), in document order.
  std::vector<std::string> Prune(Json& object) const;
  // Fills in defaults.
  void Default(Json& object) const;
  // Schema and CEL validation of a whole custom resource; `old` is the stored object on updates.
  std::vector<FieldError> Validate(const Json& object, const Json* old) const;

 private:
  explicit CrdSchema(std::unique_ptr<SchemaNode> root);
  std::unique_ptr<SchemaNode> root_;
  bool has_rules_ = false;  // any x-kubernetes-validations anywhere
};

}  // namespace tether::testing
