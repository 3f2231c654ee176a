// SPDX-License-Identifier: Apache-2.0
#include "model/yaml_guard.h"

#include <yaml.h>

#include <fstream>
#include <sstream>

namespace membrane::model {
namespace {

Diagnostic parserError(const yaml_parser_t& p, const std::string& file) {
  const yaml_mark_t& m = p.problem_mark;
  std::string msg = "malformed YAML: ";
  msg += p.problem ? p.problem : "syntax error";
  if (p.context) msg += std::string(" ") + p.context;
  return {.loc = {.file = file,
                  .line = static_cast<int>(m.line) + 1,
                  .column = static_cast<int>(m.column) + 1},
          .message = msg};
}

bool isBreakOrSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

}  // namespace

std::optional<Diagnostic> checkYamlSyntax(const std::string& text, const std::string& file) {
  // 1. Tokens: anchors and aliases must be followed by a space or the end of input.
  {
    yaml_parser_t p;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_string(&p, reinterpret_cast<const unsigned char*>(text.data()),
                                 text.size());
    for (;;) {
      yaml_token_t t;
      if (!yaml_parser_scan(&p, &t)) {
        Diagnostic d = parserError(p, file);
        yaml_parser_delete(&p);
        return d;
      }
      const yaml_token_type_t type = t.type;
      const size_t end = t.end_mark.index;
      const yaml_mark_t start = t.start_mark;
      yaml_token_delete(&t);
      if ((type == YAML_ANCHOR_TOKEN || type == YAML_ALIAS_TOKEN) && end < text.size() &&
          !isBreakOrSpace(text[end])) {
        yaml_parser_delete(&p);
        return Diagnostic{
            .loc = {.file = file,
                    .line = static_cast<int>(start.line) + 1,
                    .column = static_cast<int>(start.column) + 1},
            .message = "malformed YAML: an anchor or alias name must be followed by a space"};
      }
      if (type == YAML_STREAM_END_TOKEN) break;
    }
    yaml_parser_delete(&p);
  }
  // 2. Events: the whole grammar.
  yaml_parser_t p;
  yaml_parser_initialize(&p);
  yaml_parser_set_input_string(&p, reinterpret_cast<const unsigned char*>(text.data()),
                               text.size());
  for (;;) {
    yaml_event_t e;
    if (!yaml_parser_parse(&p, &e)) {
      Diagnostic d = parserError(p, file);
      yaml_parser_delete(&p);
      return d;
    }
    const bool done = e.type == YAML_STREAM_END_EVENT;
    yaml_event_delete(&e);
    if (done) break;
  }
  yaml_parser_delete(&p);
  return std::nullopt;
}

std::optional<YAML::Node> loadYamlDocument(const std::string& text, const std::string& file,
                                           Diagnostics& diags) {
  if (auto bad = checkYamlSyntax(text, file)) {
    diags.error(std::move(*bad));
    return std::nullopt;
  }
  try {
    return YAML::Load(text);
  } catch (const YAML::Exception& e) {
    diags.error({.loc = {.file = file, .line = e.mark.line + 1, .column = e.mark.column + 1},
                 .message = "malformed YAML: " + e.msg});
    return std::nullopt;
  }
}

std::optional<YAML::Node> loadYamlFile(const std::string& file, Diagnostics& diags) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    diags.error({.loc = {.file = file}, .message = "no such file or not readable"});
    return std::nullopt;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return loadYamlDocument(ss.str(), file, diags);
}

}  // namespace membrane::model
