#include "tokenizer/bpe_tokenizer.h"

#include <algorithm>
#include <functional>
#include <utility>

#include "base/error.h"
#include "tokenizer/min_heap.h"
#include "tokenizer/pieces.h"
#include "tokenizer/utf8.h"

namespace gemma {

// One symbol of the word being merged: a doubly linked list over a vector, so merging is
// O(1) and symbols never move. A merged symbol keeps the left index; the right one dies.
struct BpeTokenizer::Symbol {
  int32_t id;       // >= 0 a piece; kUnknown: a character not in the vocabulary; kDead: merged
  int32_t prev;     // -1 at the start
  int32_t next;     // -1 at the end
  uint32_t length;  // in characters
};
constexpr int32_t kUnknown = -1;
constexpr int32_t kDead = -2;

// The queue holds possible merges of a symbol `left` with its right neighbour as one 64-bit
// key, ordered by (rank, left) so the lowest rank wins and ties go to the leftmost pair:
//   rank (20 bits) | left index (32 bits) | characters of the merged piece (12 bits).
// Entries are not removed when a merge elsewhere makes them stale; they are checked when
// popped (lazy invalidation). A symbol's start never moves and its length only grows, so
// the pair is unchanged exactly when left and its right neighbour still add up to the
// recorded length (the check SentencePiece uses).
constexpr int kLengthBits = 12;
constexpr int kLeftBits = 32;
constexpr uint64_t kMaxMergedLength = (uint64_t{1} << kLengthBits) - 1;

namespace {
uint64_t QueueKey(uint32_t rank, uint32_t left, uint32_t length) {
  return (uint64_t{rank} << (kLeftBits + kLengthBits)) | (uint64_t{left} << kLengthBits) | length;
}
}  // namespace

struct BpeTokenizer::Scratch {
  std::vector<Symbol> symbols;
  std::vector<uint32_t> starts;  // (symbols,) byte offset in the word, for the byte fallback
  MinHeap<4> queue;
};

BpeTokenizer::BpeTokenizer(BpeModel model)
    : pieces_(std::move(model.pieces)),
      merges_(model.merges),
      added_tokens_(model.added_tokens),
      byte_fallback_(model.byte_fallback),
      unk_id_(model.unk_id),
      bos_id_(model.bos_id),
      eos_id_(model.eos_id) {
  const int32_t vocab = vocab_size();
  const auto check = [&](int32_t id, const char* what) {
    if (id < -1 || id >= vocab) {
      Fail(ErrorCode::kInvalidArgument, "BPE tokenizer: ", what, " id ", id,
           " is outside the vocabulary of ", vocab, " pieces");
    }
  };
  check(unk_id_, "<unk>");
  check(bos_id_, "<bos>");
  check(eos_id_, "<eos>");
  for (const MergeTable::Rule& rule : model.merges) {
    check(rule.left, "merge");
    check(rule.right, "merge");
    check(rule.merged, "merge");
    const std::string_view piece = pieces_[rule.merged];
    const auto characters = std::count_if(piece.begin(), piece.end(), [](char c) {
      return (static_cast<uint8_t>(c) & 0xC0) != 0x80;
    });
    if (static_cast<uint64_t>(characters) > kMaxMergedLength) {
      Fail(ErrorCode::kUnsupported, "BPE tokenizer: merged piece ", rule.merged, " has ",
           characters, " characters; at most ", kMaxMergedLength, " are supported");
    }
  }
  for (const AddedToken& token : model.added_tokens) check(token.id, "added token");
  // merges_ has what it needs: the list (7 MB for Gemma) goes before the tables below grow.
  std::vector<MergeTable::Rule>().swap(model.merges);

  decoded_offset_.reserve(pieces_.size() + 1);
  byte_value_.reserve(pieces_.size());
  id_of_piece_ = PieceIndex(&pieces_);
  ascii_id_.fill(-1);
  bmp_id_.assign(0x10000, -1);
  byte_id_.fill(-1);
  for (int32_t id = 0; id < vocab; ++id) {
    const std::string_view piece = pieces_[id];
    decoded_offset_.push_back(static_cast<uint32_t>(decoded_text_.size()));
    if (piece.find(kUnderline) != std::string_view::npos) {
      decoded_text_.append(DecodedPieceText(piece));
    }
    const int byte = ParseBytePiece(piece);
    byte_value_.push_back(static_cast<int16_t>(byte));
    if (byte >= 0 && byte_id_[byte] < 0) byte_id_[byte] = id;
    if (piece.empty()) continue;
    const utf8::Scan scan = utf8::ScanAt(piece, 0);
    if (scan.status != utf8::ScanStatus::kValid || scan.length != piece.size()) continue;
    const char32_t c = scan.code_point;
    int32_t& slot = c < 0x80      ? ascii_id_[c]
                    : c < 0x10000 ? bmp_id_[c]
                                  : astral_id_.try_emplace(c, -1).first->second;
    if (slot < 0) slot = id;
  }
  decoded_offset_.push_back(static_cast<uint32_t>(decoded_text_.size()));
  decoded_text_.shrink_to_fit();  // grown by doubling
  if (model.space_to_underline) {
    // The normalizer turns ' ' into '▁' before BPE; doing it in the lookup table saves
    // rewriting the text.
    ascii_id_[' '] = bmp_id_[kUnderlineCodePoint];
  }
}

std::string_view BpeTokenizer::Piece(int32_t id) const {
  CheckId(id);
  return pieces_[id];
}

int32_t BpeTokenizer::PieceToId(std::string_view piece) const { return id_of_piece_.Find(piece); }

int BpeTokenizer::ByteValue(int32_t id) const {
  CheckId(id);
  return byte_value_[id];
}

std::string_view BpeTokenizer::DecodedText(int32_t id) const {
  CheckId(id);
  const uint32_t begin = decoded_offset_[id];
  const uint32_t end = decoded_offset_[id + 1];
  if (begin == end) return pieces_[id];
  return std::string_view(decoded_text_).substr(begin, end - begin);
}

int32_t BpeTokenizer::CodePointId(char32_t c) const {
  if (c < 0x80) return ascii_id_[c];
  if (c < 0x10000) return bmp_id_[c];
  const auto it = astral_id_.find(c);
  return it == astral_id_.end() ? -1 : it->second;
}

std::vector<int32_t> BpeTokenizer::Encode(std::string_view text, bool add_bos) const {
  std::string sanitized;
  if (!utf8::IsValid(text)) {
    sanitized = utf8::Sanitize(text);
    text = sanitized;
  }
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 4 + 2);
  if (add_bos) ids.push_back(bos_id_);

  // Added tokens first (rule 1): each stretch of text between them is one BPE word. A match
  // never starts inside a character: added tokens are valid UTF-8, so they start with a lead
  // byte, and the text is valid UTF-8 by now.
  Scratch scratch;
  size_t word_start = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    const AddedTokenMatcher::Match match = added_tokens_.LongestAt(text, pos);
    if (match.length == 0) {
      ++pos;
      continue;
    }
    EncodeWord(text.substr(word_start, pos - word_start), scratch, ids);
    ids.push_back(match.id);
    pos += match.length;
    word_start = pos;
  }
  EncodeWord(text.substr(word_start), scratch, ids);
  return ids;
}

void BpeTokenizer::EncodeWord(std::string_view word, Scratch& scratch,
                              std::vector<int32_t>& ids) const {
  if (word.empty()) return;
  if (word.size() >= (uint64_t{1} << kLeftBits)) {
    Fail(ErrorCode::kUnsupported, "BPE tokenizer: a stretch of ", word.size(),
         " bytes without added tokens is too long (limit 4 GiB)");
  }
  // symbols: (characters of word,)
  std::vector<Symbol>& symbols = scratch.symbols;
  std::vector<uint32_t>& starts = scratch.starts;
  symbols.clear();
  starts.clear();
  for (size_t pos = 0; pos < word.size();) {
    const uint8_t lead = static_cast<uint8_t>(word[pos]);
    int32_t id;
    size_t length;
    if (lead < 0x80) {
      id = ascii_id_[lead];
      length = 1;
    } else {
      const utf8::Scan scan = utf8::ScanAt(word, pos);  // valid: Encode sanitized the text
      id = CodePointId(scan.code_point);
      length = scan.length;
    }
    const int32_t index = static_cast<int32_t>(symbols.size());
    symbols.push_back({id < 0 ? kUnknown : id, index - 1, index + 1, 1});
    starts.push_back(static_cast<uint32_t>(pos));
    pos += length;
  }
  symbols.back().next = -1;

  MinHeap<4>& queue = scratch.queue;
  queue.clear();
  // The key of a merge of `left` with its right neighbour, or 0 when they do not merge
  // (0 is never a real key: the merged piece has at least two characters).
  const auto key_of = [&](int32_t left) -> uint64_t {
    const int32_t right = symbols[left].next;
    if (right < 0) return 0;
    const int32_t left_id = symbols[left].id;
    const int32_t right_id = symbols[right].id;
    if (left_id < 0 || right_id < 0) return 0;  // unknown characters never merge
    const uint32_t rank = merges_.RankOf(left_id, right_id);
    if (rank == MergeTable::kNoMerge) return 0;
    return QueueKey(rank, static_cast<uint32_t>(left),
                    symbols[left].length + symbols[right].length);
  };
  // All initial pairs at once, then one O(n) heapify; later pairs are pushed one by one.
  for (int32_t i = 0; i + 1 < static_cast<int32_t>(symbols.size()); ++i) {
    if (const uint64_t key = key_of(i)) queue.AddUnordered(key);
  }
  queue.Heapify();

  while (!queue.empty()) {
    const uint64_t key = queue.Pop();
    const uint32_t rank = static_cast<uint32_t>(key >> (kLeftBits + kLengthBits));
    const int32_t left = static_cast<int32_t>((key >> kLengthBits) & 0xFFFFFFFFu);
    const uint32_t length = static_cast<uint32_t>(key & kMaxMergedLength);
    Symbol& merged = symbols[left];
    if (merged.id < 0 || merged.next < 0) continue;  // stale: left died or has no neighbour
    const int32_t right = merged.next;
    if (merged.length + symbols[right].length != length) continue;  // stale: a side changed

    merged.id = merges_.MergedId(rank);
    merged.length = length;
    merged.next = symbols[right].next;
    if (merged.next >= 0) symbols[merged.next].prev = left;
    symbols[right].id = kDead;
    if (merged.prev >= 0) {
      if (const uint64_t k = key_of(merged.prev)) queue.Push(k);
    }
    if (const uint64_t k = key_of(left)) queue.Push(k);
  }

  // Rule 4: a final piece that is not in the vocabulary (only ever an unknown character,
  // since merges only produce pieces) becomes its UTF-8 bytes.
  bool last_was_unk = false;
  for (int32_t s = 0; s >= 0; s = symbols[s].next) {
    const Symbol& symbol = symbols[s];
    if (symbol.id >= 0) {
      ids.push_back(symbol.id);
      last_was_unk = false;
      continue;
    }
    const size_t start = starts[s];
    const std::string_view character =
        word.substr(start, utf8::ScanAt(word, start).length);  // unknowns never merged
    const bool has_all_bytes =
        byte_fallback_ && std::all_of(character.begin(), character.end(), [&](char c) {
          return byte_id_[static_cast<uint8_t>(c)] >= 0;
        });
    if (has_all_bytes) {
      for (const char c : character) ids.push_back(byte_id_[static_cast<uint8_t>(c)]);
      last_was_unk = false;
    } else if (unk_id_ < 0) {
      Fail(ErrorCode::kUnsupported, "BPE tokenizer: character '", character,
           "' is not in the vocabulary, which has neither byte pieces for it nor <unk>");
    } else if (!last_was_unk) {  // consecutive unknowns fuse into one <unk> (fuse_unk)
      ids.push_back(unk_id_);
      last_was_unk = true;
    }
  }
}

}  // namespace gemma
