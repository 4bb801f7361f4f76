#include "deps/cel_evaluator.h"

#include "cel/cel.h"

namespace tether::deps {

Result<bool> CelExpressionEvaluator::EvaluateBool(std::string_view expression,
                                                  const nlohmann::json& resource) const {
  std::shared_ptr<const cel::Program> program;
  {
    std::lock_guard lock(mu_);
    if (auto it = cache_.find(std::string(expression)); it != cache_.end()) program = it->second;
  }
  if (!program) {
    cel::Env env;
    env.variables = {"resource"};
    auto compiled = cel::Compile(expression, env);
    if (!compiled) return Fail(compiled.error().Wrap("compiling condition.expression"));
    program = *compiled;
    std::lock_guard lock(mu_);
    if (cache_.size() >= max_cached_) cache_.clear();  // crude but bounded
    cache_.emplace(std::string(expression), program);
  }
  cel::Activation activation;
  activation.BindJsonRef("resource", resource);
  return program->EvaluateBool(activation);
}

}  // namespace tether::deps
