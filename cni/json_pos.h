// SPDX-License-Identifier: Apache-2.0
// Source positions of JSON values: nlohmann::json keeps none, but a field error must name
// line:column. This indexes already-parsed (hence well-formed) text by JSON pointer.
#pragma once

#include <map>
#include <string>
#include <string_view>

namespace membrane::cni {

struct TextPos {
  int line = 1;    // 1-based
  int column = 1;  // 1-based, in bytes
};

// JSON pointer ("" = root, "/args/cni/labels") -> position of the value's first character.
using PosIndex = std::map<std::string, TextPos>;

// `text` must be valid JSON (parse it with nlohmann first); on anything else the index is
// partial, never wrong for the values it holds.
PosIndex indexPositions(std::string_view text);

// Line and column of byte offset `offset` in `text` (offset past the end: the last position).
TextPos positionOf(std::string_view text, size_t offset);

// "a~b/c" -> "/a~0b~1c" as RFC 6901 escapes it.
std::string pointerToken(std::string_view key);

}  // namespace membrane::cni
