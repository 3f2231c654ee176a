// SPDX-License-Identifier: Apache-2.0
#include "cni/json_pos.h"

#include <cctype>

namespace membrane::cni {
namespace {

class Indexer {
 public:
  explicit Indexer(std::string_view text) : text_(text) {}

  PosIndex run() {
    skipSpace();
    value("");
    return std::move(index_);
  }

 private:
  void advance() {
    if (i_ >= text_.size()) return;
    if (text_[i_] == '\n') {
      ++line_;
      column_ = 1;
    } else {
      ++column_;
    }
    ++i_;
  }
  bool atEnd() const { return i_ >= text_.size(); }
  char peek() const { return atEnd() ? '\0' : text_[i_]; }
  void skipSpace() {
    while (!atEnd() && std::isspace(static_cast<unsigned char>(peek()))) advance();
  }

  // Consumes a string literal (at '"'), returns its raw contents (escapes kept except \" and
  // \\, which is all a key lookup in our configs needs).
  std::string string() {
    std::string out;
    advance();  // opening quote
    while (!atEnd() && peek() != '"') {
      if (peek() == '\\') {
        advance();
        if (atEnd()) break;
      }
      out.push_back(peek());
      advance();
    }
    advance();  // closing quote
    return out;
  }

  void value(const std::string& pointer) {
    index_[pointer] = TextPos{line_, column_};
    char c = peek();
    if (c == '{') {
      object(pointer);
    } else if (c == '[') {
      array(pointer);
    } else if (c == '"') {
      string();
    } else {
      while (!atEnd() && peek() != ',' && peek() != '}' && peek() != ']' &&
             !std::isspace(static_cast<unsigned char>(peek())))
        advance();
    }
  }

  void object(const std::string& pointer) {
    advance();
    skipSpace();
    while (!atEnd() && peek() != '}') {
      if (peek() != '"') return;  // not well-formed: stop indexing
      std::string key = string();
      skipSpace();
      if (peek() != ':') return;
      advance();
      skipSpace();
      value(pointer + "/" + pointerToken(key));
      skipSpace();
      if (peek() == ',') {
        advance();
        skipSpace();
      }
    }
    advance();
  }

  void array(const std::string& pointer) {
    advance();
    skipSpace();
    for (int n = 0; !atEnd() && peek() != ']'; ++n) {
      value(pointer + "/" + std::to_string(n));
      skipSpace();
      if (peek() == ',') {
        advance();
        skipSpace();
      }
    }
    advance();
  }

  std::string_view text_;
  size_t i_ = 0;
  int line_ = 1;
  int column_ = 1;
  PosIndex index_;
};

}  // namespace

PosIndex indexPositions(std::string_view text) { return Indexer(text).run(); }

TextPos positionOf(std::string_view text, size_t offset) {
  TextPos pos;
  for (size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++pos.line;
      pos.column = 1;
    } else {
      ++pos.column;
    }
  }
  return pos;
}

std::string pointerToken(std::string_view key) {
  std::string out;
  for (char c : key) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace membrane::cni
