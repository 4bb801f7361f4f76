#include "cel/library.h"

namespace tether::cel {
void RegisterKubernetesLibrary(FunctionMap& m) {}
}  // namespace tether::cel
