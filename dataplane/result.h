// SPDX-License-Identifier: Apache-2.0
// Errors as values at the dataplane boundary: Result<T> holds a value or an Error with the
// errno-style code and what was being attempted.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace membrane::dataplane {

struct Error {
  int code = 0;         // positive errno value (EINVAL for bad input)
  std::string context;  // what failed, e.g. "update membrane_ipcache 10.0.0.0/24"
  std::string message() const;
};

// `context`: strerror(code).
Error errnoError(int code, std::string context);

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return error_; }

 private:
  Error error_;
  bool ok_ = true;
};

using Status = Result<void>;

}  // namespace membrane::dataplane
