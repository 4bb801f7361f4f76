#include "cli/signals.h"

#include <pthread.h>

#include <condition_variable>
#include <csignal>
#include <mutex>
#include <thread>

#include "common/log.h"

namespace tether::cli {

void StopOnSignals(std::stop_source& stop) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::thread([set, stop]() mutable {
    int sig = 0;
    sigwait(&set, &sig);
    log::Info("signal received, stopping", {{"signal", sig == SIGINT ? "SIGINT" : "SIGTERM"}});
    stop.request_stop();
  }).detach();
}

void WaitForStop(const std::stop_token& stop) {
  std::mutex mu;
  std::condition_variable_any cv;
  std::unique_lock lock(mu);
  cv.wait(lock, stop, [] { return false; });
}

}  // namespace tether::cli
