// SPDX-License-Identifier: Apache-2.0
// Errors as values at the kvstore boundary: a code the caller can branch on and a message
// that names the endpoint, key or revision involved.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace membrane::kvstore {

enum class ErrorCode {
  Unavailable,      // no endpoint answered (etcd down, network, deadline)
  Conflict,         // a compare of a transaction failed (someone else wrote first)
  NotFound,         // the key does not exist
  Compacted,        // a watch asked for a revision etcd has compacted away
  InvalidArgument,  // bad configuration or request (endpoint URL, TLS files)
  Internal,         // anything else etcd answered
};

struct Error {
  ErrorCode code = ErrorCode::Internal;
  std::string message;
};

const char* errorCodeName(ErrorCode c);

template <typename T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)
  bool ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return ok(); }
  T& value() { return std::get<T>(v_); }
  const T& value() const { return std::get<T>(v_); }
  T& operator*() { return value(); }
  const T& operator*() const { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const { return std::get<Error>(v_); }

 private:
  std::variant<T, Error> v_;
};

// For operations that return nothing but may fail.
struct Ok {};
using Status = Result<Ok>;

}  // namespace membrane::kvstore
