// Reading benchmark data files into records that remember where they start, so that every
// error names the file and line: JSON Lines (one object per line), a JSON array of objects,
// and CSV (RFC 4180: quoted fields may hold commas, doubled quotes and line breaks).
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace gemma::eval {

// "<file>:<line>: <what>" (or "<file>: <what>" for the whole file).
class DataError : public std::runtime_error {
 public:
  DataError(const std::string& file, size_t line, const std::string& what);
};

struct JsonRecord {
  size_t line = 0;  // where the record starts (1-based)
  nlohmann::json value;
};

// A file whose first non-blank character is '[' is a JSON array; anything else is read as
// JSON Lines (blank lines skipped). Every record must be an object.
std::vector<JsonRecord> ReadJsonRecords(const std::string& path);

struct CsvRecord {
  size_t line = 0;
  std::vector<std::string> fields;
};
std::vector<CsvRecord> ReadCsvRecords(const std::string& path);

std::string ReadWholeFile(const std::string& path);

// Typed access to a record's fields; errors name the file, line and field.
class RecordReader {
 public:
  RecordReader(const std::string& file, const JsonRecord& record) : file_(file), record_(record) {}
  const nlohmann::json& Field(std::string_view name) const;  // must be present
  bool Has(std::string_view name) const;
  std::string String(std::string_view name) const;
  std::string String(const nlohmann::json& value, std::string_view what) const;
  std::vector<std::string> Strings(std::string_view name) const;  // a non-empty array
  std::vector<std::string> Strings(const nlohmann::json& value, std::string_view what) const;
  // An integer, or a string of digits (Hugging Face exports store labels as "3").
  long long Integer(std::string_view name) const;
  [[noreturn]] void Fail(const std::string& what) const;
  const std::string& file() const { return file_; }
  size_t line() const { return record_.line; }

 private:
  const std::string& file_;
  const JsonRecord& record_;
};

}  // namespace gemma::eval
