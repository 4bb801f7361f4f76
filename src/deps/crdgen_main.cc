// tether_crdgen: prints the WorkloadDependency CRD (YAML by default, --json for JSON).
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>

#include "deps/crd.h"

int main(int argc, char** argv) {
  bool as_json = argc > 1 && std::strcmp(argv[1], "--json") == 0;
  if (argc > 1 && !as_json) {
    std::fprintf(stderr, "usage: %s [--json]\n", argv[0]);
    return 2;
  }
  std::string out = as_json ? tether::deps::WorkloadDependencyCrd().dump(2) + "\n"
                            : tether::deps::WorkloadDependencyCrdYaml();
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}
