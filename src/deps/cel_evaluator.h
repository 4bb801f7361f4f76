// CelExpressionEvaluator: the ExpressionEvaluator of health.h backed by tether's CEL engine
// (src/cel), with `resource` bound to the dependency object. Compiled programs are cached by
// expression text (bounded), so each expression is parsed and checked once.
//
// Thread-safety: EvaluateBool may be called concurrently from any number of threads.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "deps/health.h"

namespace tether::cel {
class Program;
}

namespace tether::deps {

class CelExpressionEvaluator final : public ExpressionEvaluator {
 public:
  explicit CelExpressionEvaluator(std::size_t max_cached_programs = 4096)
      : max_cached_(max_cached_programs) {}

  // Compile errors and runtime errors (no such key, cost limit, non-boolean result) come back
  // as errors naming the expression's line:column; EvaluateHealth turns them into Unknown.
  [[nodiscard]] Result<bool> EvaluateBool(std::string_view expression,
                                          const nlohmann::json& resource) const override;
  [[nodiscard]] Result<void> Check(std::string_view expression) const override;

 private:
  Result<std::shared_ptr<const cel::Program>> Program(std::string_view expression) const;

  std::size_t max_cached_;
  mutable std::mutex mu_;
  mutable std::unordered_map<std::string, std::shared_ptr<const cel::Program>> cache_;
};

}  // namespace tether::deps
