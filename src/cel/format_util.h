// Number formatting helpers matching Go's strconv, as cel-go renders numbers.
// Pure functions; thread-safe.
#pragma once

#include <string>

namespace tether::cel {

// Go's strconv.FormatFloat(d, 'g', -1, 64): shortest round-trip digits, exponent form when the
// exponent is < -4 or >= 21 ("1e+21"), "NaN", "+Inf", "-Inf".
std::string FormatDoubleGo(double d);

}  // namespace tether::cel
