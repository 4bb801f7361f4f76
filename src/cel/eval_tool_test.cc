#include "cel/eval_tool.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

namespace tether::cel {
namespace {

class TempFile {
 public:
  explicit TempFile(const std::string& content) {
    char name[] = "/tmp/cel_eval_tool_XXXXXX";
    int fd = mkstemp(name);
    path_ = name;
    std::ofstream(path_) << content;
    close(fd);
  }
  ~TempFile() { std::remove(path_.c_str()); }
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TimePoint Now() {
  TimePoint t;
  ParseRfc3339("2026-06-15T03:00:00Z", &t);
  return t;
}

TEST(EvalTool, EvaluatesOverYamlResource) {
  TempFile res(
      "metadata:\n  name: web\n  creationTimestamp: '2026-06-15T02:00:00Z'\n"
      "status:\n  readyReplicas: 3\n  ready: yes\n  version: '1.10'\n  ratio: 0.5\n");
  EvalToolRequest req;
  req.resource_file = res.path();
  req.expression = "resource.status.readyReplicas >= 1 && resource.status.ready";
  auto out = RunEvalTool(req, Now());
  EXPECT_EQ(out.exit_code, 0) << out.error;
  EXPECT_EQ(out.output, "{\"type\":\"bool\",\"value\":true}\n");
  req.expression = "resource.status.version";
  EXPECT_EQ(RunEvalTool(req, Now()).output, "{\"type\":\"string\",\"value\":\"1.10\"}\n");
  req.expression = "resource.status.ratio";
  EXPECT_EQ(RunEvalTool(req, Now()).output, "{\"type\":\"double\",\"value\":0.5}\n");
  req.expression = "now() - timestamp(resource.metadata.creationTimestamp)";
  EXPECT_EQ(RunEvalTool(req, Now()).output,
            "{\"type\":\"google.protobuf.Duration\",\"value\":\"3600s\"}\n");
  req.expression = "timestamp(resource.metadata.creationTimestamp)";
  EXPECT_EQ(RunEvalTool(req, Now()).output,
            "{\"type\":\"google.protobuf.Timestamp\",\"value\":\"2026-06-15T02:00:00Z\"}\n");
  req.expression = "quantity('1.5Gi')";
  EXPECT_EQ(RunEvalTool(req, Now()).output,
            "{\"type\":\"kubernetes.Quantity\",\"value\":\"1536Mi\"}\n");
  req.expression = "b'hi'";
  EXPECT_EQ(RunEvalTool(req, Now()).output, "{\"type\":\"bytes\",\"value\":\"aGk=\"}\n");
}

TEST(EvalTool, ThisPodAndVars) {
  TempFile pod("{\"metadata\": {\"name\": \"p\"}}");
  TempFile extra("[1, 2, 3]");
  EvalToolRequest req;
  req.this_file = pod.path();
  req.vars = {{"nums", extra.path()}};
  req.expression = "this.metadata.name + pod.metadata.name + string(nums.sum())";
  auto out = RunEvalTool(req, Now());
  EXPECT_EQ(out.exit_code, 0) << out.error;
  EXPECT_EQ(out.output, "{\"type\":\"string\",\"value\":\"pp6\"}\n");
}

TEST(EvalTool, ErrorsGoToStderrWithPositions) {
  TempFile res("status: {}\n");
  EvalToolRequest req;
  req.resource_file = res.path();
  req.expression = "resource.status.readyReplicas >= 1";
  auto out = RunEvalTool(req, Now());
  EXPECT_EQ(out.exit_code, 1);
  EXPECT_EQ(out.error, "1:16: no such key: readyReplicas\n");
  EXPECT_TRUE(out.output.empty());
  req.expression = "resorce.status";
  EXPECT_EQ(RunEvalTool(req, Now()).error, "1:1: undeclared reference to 'resorce'\n");
  req.resource_file = "/nonexistent/file.yaml";
  EXPECT_EQ(RunEvalTool(req, Now()).exit_code, 1);
}

TEST(EvalTool, YamlPlainScalarsFollowYaml11) {
  auto doc = ParseDocument(
      "a: yes\nb: 'yes'\nc: 42\nd: '42'\ne: 1.5\nf: ~\ng: off\nh: 0x1F\ni: text\n", "x");
  ASSERT_TRUE(doc) << doc.error().message;
  EXPECT_EQ((*doc)["a"], true);
  EXPECT_EQ((*doc)["b"], "yes");
  EXPECT_EQ((*doc)["c"], 42);
  EXPECT_EQ((*doc)["d"], "42");
  EXPECT_EQ((*doc)["e"], 1.5);
  EXPECT_TRUE((*doc)["f"].is_null());
  EXPECT_EQ((*doc)["g"], false);
  EXPECT_EQ((*doc)["h"], 31);
  EXPECT_EQ((*doc)["i"], "text");
  EXPECT_FALSE(ParseDocument("a: [1, 2", "bad.yaml"));
}

}  // namespace
}  // namespace tether::cel
