// Kubernetes/cel-go extended strings library (filled in below).
#include "cel/library.h"

namespace tether::cel {
void RegisterStringsLibrary(FunctionMap& m) {}
}  // namespace tether::cel
