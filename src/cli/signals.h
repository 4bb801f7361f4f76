// Process signal handling for long-running subcommands: SIGINT/SIGTERM request a stop through a
// std::stop_source (a dedicated thread waits with sigwait, so no work happens in a signal
// handler). Call StopOnSignals before starting other threads so they inherit the signal mask.
#pragma once

#include <stop_token>

namespace tether::cli {

void StopOnSignals(std::stop_source& stop);
// Blocks the calling thread until `stop` is requested.
void WaitForStop(const std::stop_token& stop);

}  // namespace tether::cli
