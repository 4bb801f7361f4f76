#include "deps/cel_evaluator.h"

#include "cel/cel.h"

namespace tether::deps {

Result<std::shared_ptr<const cel::Program>> CelExpressionEvaluator::Program(
    std::string_view expression) const {
  {
    std::lock_guard lock(mu_);
    if (auto it = cache_.find(std::string(expression)); it != cache_.end()) return it->second;
  }
  cel::Env env;
  env.variables = {"resource"};
  auto compiled = cel::Compile(expression, env);
  if (!compiled) return Fail(compiled.error().Wrap("compiling condition.expression"));
  std::lock_guard lock(mu_);
  if (cache_.size() >= max_cached_) cache_.clear();  // crude but bounded
  cache_.emplace(std::string(expression), *compiled);
  return *compiled;
}

Result<void> CelExpressionEvaluator::Check(std::string_view expression) const {
  auto program = Program(expression);
  if (!program) return tl::unexpected(program.error());
  return {};
}

Result<bool> CelExpressionEvaluator::EvaluateBool(std::string_view expression,
                                                  const nlohmann::json& resource) const {
  auto program = Program(expression);
  if (!program) return tl::unexpected(program.error());
  cel::Activation activation;
  activation.BindJsonRef("resource", resource);
  return (*program)->EvaluateBool(activation);
}

}  // namespace tether::deps
