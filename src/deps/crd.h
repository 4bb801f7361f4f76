// The WorkloadDependency CustomResourceDefinition (apiextensions.k8s.io/v1), generated from the
// schema constants in types.h (the same enums, patterns, bounds and defaults the decoder and
// validator use): full OpenAPI v3 schema, x-kubernetes-validations (CEL) for the cross-field rules
// of SPEC §2.1, printer columns, short name and the status subresource.
//
// deploy/crds/workloaddependencies.tether.dev.yaml is this output (tether_crdgen prints it; a test
// keeps the committed file identical). Pure functions; thread-safe.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>

namespace tether::deps {

// The CRD object as JSON.
nlohmann::json WorkloadDependencyCrd();
// The CRD as a YAML document (with a "generated, do not edit" header comment).
std::string WorkloadDependencyCrdYaml();
// Renders JSON as block-style YAML (strings double-quoted, keys plain when safe).
std::string JsonToYaml(const nlohmann::json& value);

}  // namespace tether::deps
