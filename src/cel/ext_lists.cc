#include "cel/library.h"

namespace tether::cel {
void RegisterListsLibrary(FunctionMap& m) {}
}  // namespace tether::cel
