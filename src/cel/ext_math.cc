#include "cel/library.h"

namespace tether::cel {
void RegisterMathLibrary(FunctionMap& m) {}
}  // namespace tether::cel
