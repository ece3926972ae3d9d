#include "eval/data_records.h"

#include <cctype>
#include <fstream>
#include <sstream>

namespace gemma::eval {
namespace {

std::string Where(const std::string& file, size_t line) {
  return line == 0 ? file : file + ":" + std::to_string(line);
}

// nlohmann's messages start with "[json.exception.parse_error.101] ": the part after it.
std::string JsonMessage(const std::exception& e) {
  std::string_view what = e.what();
  if (!what.empty() && what.front() == '[') {
    const size_t end = what.find("] ");
    if (end != std::string_view::npos) what.remove_prefix(end + 2);
  }
  return std::string(what);
}

nlohmann::json ParseObject(const std::string& file, size_t line, std::string_view text) {
  nlohmann::json value;
  try {
    value = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw DataError(file, line, "not valid JSON: " + JsonMessage(e));
  }
  if (!value.is_object()) throw DataError(file, line, "a record must be a JSON object");
  return value;
}

bool IsBlank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// The elements of a top-level JSON array, each parsed on its own so that it keeps its line.
std::vector<JsonRecord> ReadJsonArray(const std::string& file, std::string_view text) {
  std::vector<JsonRecord> records;
  size_t i = 0, line = 1;
  const auto skip_blanks = [&] {
    while (i < text.size() && IsBlank(text[i])) line += text[i++] == '\n';
  };
  skip_blanks();
  ++i;  // '['
  while (true) {
    skip_blanks();
    if (i >= text.size()) throw DataError(file, line, "the JSON array is not closed");
    if (text[i] == ']' && records.empty()) {
      ++i;
      break;
    }
    const size_t start = i, start_line = line;
    int depth = 0;
    bool in_string = false;
    for (; i < text.size(); ++i) {
      const char c = text[i];
      if (c == '\n') ++line;
      if (in_string) {
        if (c == '\\') {
          ++i;  // the escaped character
        } else if (c == '"') {
          in_string = false;
        }
      } else if (c == '"') {
        in_string = true;
      } else if (c == '{' || c == '[') {
        ++depth;
      } else if (c == '}' || c == ']') {
        if (depth == 0) break;
        --depth;
      } else if (c == ',' && depth == 0) {
        break;
      }
    }
    records.push_back({start_line, ParseObject(file, start_line, text.substr(start, i - start))});
    if (i >= text.size()) throw DataError(file, line, "the JSON array is not closed");
    if (text[i++] == ']') break;
  }
  skip_blanks();
  if (i < text.size()) throw DataError(file, line, "text after the end of the JSON array");
  return records;
}

}  // namespace

DataError::DataError(const std::string& file, size_t line, const std::string& what)
    : std::runtime_error(Where(file, line) + ": " + what) {}

std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw DataError(path, 0, "cannot open the file");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw DataError(path, 0, "cannot read the file");
  return std::move(text).str();
}

std::vector<JsonRecord> ReadJsonRecords(const std::string& path) {
  const std::string text = ReadWholeFile(path);
  size_t first = 0;
  while (first < text.size() && IsBlank(text[first])) ++first;
  if (first < text.size() && text[first] == '[') return ReadJsonArray(path, text);
  std::vector<JsonRecord> records;
  size_t line = 0;
  for (size_t begin = 0; begin < text.size();) {
    size_t end = text.find('\n', begin);
    if (end == std::string::npos) end = text.size();
    ++line;
    const std::string_view row = std::string_view(text).substr(begin, end - begin);
    begin = end + 1;
    if (row.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    records.push_back({line, ParseObject(path, line, row)});
  }
  return records;
}

std::vector<CsvRecord> ReadCsvRecords(const std::string& path) {
  const std::string text = ReadWholeFile(path);
  std::vector<CsvRecord> records;
  size_t i = 0, line = 1;
  while (i < text.size()) {
    CsvRecord record{.line = line};
    std::string field;
    bool quoted = false, record_done = false;
    while (!record_done) {
      if (i >= text.size()) {
        if (quoted) throw DataError(path, record.line, "a quoted field is not closed");
        break;
      }
      const char c = text[i++];
      if (quoted) {
        if (c == '"') {
          if (i < text.size() && text[i] == '"') {
            field += '"';
            ++i;
          } else {
            quoted = false;
          }
        } else {
          if (c == '\n') ++line;
          field += c;
        }
      } else if (c == '"') {
        quoted = true;
      } else if (c == ',') {
        record.fields.push_back(std::move(field));
        field.clear();
      } else if (c == '\n' || c == '\r') {
        if (c == '\r' && i < text.size() && text[i] == '\n') ++i;
        ++line;
        record_done = true;
      } else {
        field += c;
      }
    }
    record.fields.push_back(std::move(field));
    const bool empty_line = record.fields.size() == 1 && record.fields[0].empty();
    if (!empty_line) records.push_back(std::move(record));
  }
  return records;
}

const nlohmann::json& RecordReader::Field(std::string_view name) const {
  const auto it = record_.value.find(name);
  if (it == record_.value.end()) Fail("missing field \"" + std::string(name) + "\"");
  return *it;
}

bool RecordReader::Has(std::string_view name) const { return record_.value.contains(name); }

std::string RecordReader::String(std::string_view name) const {
  return String(Field(name), "field \"" + std::string(name) + "\"");
}

std::string RecordReader::String(const nlohmann::json& value, std::string_view what) const {
  if (!value.is_string()) Fail(std::string(what) + " is not a string");
  return value.get<std::string>();
}

std::vector<std::string> RecordReader::Strings(std::string_view name) const {
  return Strings(Field(name), "field \"" + std::string(name) + "\"");
}

std::vector<std::string> RecordReader::Strings(const nlohmann::json& value,
                                               std::string_view what) const {
  if (!value.is_array()) Fail(std::string(what) + " is not an array");
  if (value.empty()) Fail(std::string(what) + " is empty");
  std::vector<std::string> out;
  for (size_t i = 0; i < value.size(); ++i) {
    out.push_back(String(value[i], std::string(what) + " item " + std::to_string(i)));
  }
  return out;
}

long long RecordReader::Integer(std::string_view name) const {
  const nlohmann::json& value = Field(name);
  const std::string what = "field \"" + std::string(name) + "\"";
  if (value.is_number_integer()) return value.get<long long>();
  if (value.is_string()) {
    const std::string text = value.get<std::string>();
    if (text.empty()) Fail(what + " is empty (a split without answers?)");
    if (text.size() <= 9 && text.find_first_not_of("0123456789") == std::string::npos) {
      return std::stoll(text);
    }
  }
  Fail(what + " is not an integer: " + value.dump());
}

void RecordReader::Fail(const std::string& what) const {
  throw DataError(file_, record_.line, what);
}

}  // namespace gemma::eval
