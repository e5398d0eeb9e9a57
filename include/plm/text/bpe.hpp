// plm/text/bpe.hpp - byte-level BPE on one pre-tokenized word.
//
// Start from one symbol per byte (the byte's token), then repeatedly merge the
// adjacent pair with the lowest merge rank, leftmost first on ties, until no
// adjacent pair has a merge. This is the order of llama.cpp's bigram queue and
// of Hugging Face's BPE, so the output ids are the same.
//
// Two implementations of that one rule: words of up to bpe_small_word bytes
// (nearly all real words) use fixed arrays on the stack and a linear scan for
// the best pair, which beats a heap at these sizes and never allocates; longer
// words (long digit-free runs, CJK sentences, base64) use a heap over a linked
// list so a megabyte-long "word" costs O(n log n), not O(n^2).
#pragma once

#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <queue>
#include <string_view>
#include <vector>

#include "plm/text/vocab.hpp"

namespace plm::text {

/// Longest word (in bytes) handled by the allocation-free path.
inline constexpr size_t bpe_small_word = 128;

namespace detail {

inline constexpr int32_t no_rank = std::numeric_limits<int32_t>::max();

template <class Sink>
void bpe_small(const vocab& v, std::string_view word, Sink& sink) {
  const size_t n0 = word.size();
  const auto* w = reinterpret_cast<const uint8_t*>(word.data());
  int32_t ids[bpe_small_word];    // [n] current symbols
  int32_t rank[bpe_small_word];   // [n - 1] merge rank of (ids[i], ids[i + 1]), no_rank = none
  int32_t merged[bpe_small_word]; // [n - 1] id that merge makes
  for (size_t i = 0; i < n0; ++i) ids[i] = v.byte_token(w[i]);
  for (size_t i = 0; i + 1 < n0; ++i) {
    const merge_info m = v.merge_bytes(w[i], w[i + 1]);
    rank[i] = m.rank < 0 ? no_rank : m.rank;
    merged[i] = m.id;
  }
  size_t n = n0;
  while (n > 1) {
    size_t best = 0;
    int32_t best_rank = rank[0];
    for (size_t i = 1; i + 1 < n; ++i) {
      if (rank[i] < best_rank) {
        best_rank = rank[i];
        best = i;
      }
    }
    if (best_rank == no_rank) break;
    ids[best] = merged[best];
    // Drop symbol best + 1 and pair best (now inside the merged symbol).
    std::memmove(ids + best + 1, ids + best + 2, (n - best - 2) * sizeof(int32_t));
    if (best + 2 < n) {
      std::memmove(rank + best, rank + best + 1, (n - best - 2) * sizeof(int32_t));
      std::memmove(merged + best, merged + best + 1, (n - best - 2) * sizeof(int32_t));
    }
    --n;
    if (best > 0) {
      const merge_info m = v.merge(ids[best - 1], ids[best]);
      rank[best - 1] = m.rank < 0 ? no_rank : m.rank;
      merged[best - 1] = m.id;
    }
    if (best + 1 < n) {
      const merge_info m = v.merge(ids[best], ids[best + 1]);
      rank[best] = m.rank < 0 ? no_rank : m.rank;
      merged[best] = m.id;
    }
  }
  for (size_t i = 0; i < n; ++i) sink(ids[i]);
}

template <class Sink>
void bpe_large(const vocab& v, std::string_view word, Sink& sink) {
  const size_t n = word.size();
  const auto* w = reinterpret_cast<const uint8_t*>(word.data());
  struct symbol {
    int32_t id;
    int32_t prev;  // -1 = none
    int32_t next;  // -1 = none
    bool alive;
  };
  struct candidate {
    int32_t rank;
    int32_t left;   // index of the left symbol (its first byte, stable while it lives)
    int32_t left_id;
    int32_t right_id;
    int32_t merged;
    bool operator>(const candidate& o) const { return rank != o.rank ? rank > o.rank : left > o.left; }
  };
  std::vector<symbol> sym(n);  // [n] one per starting byte
  for (size_t i = 0; i < n; ++i) {
    sym[i] = {v.byte_token(w[i]), static_cast<int32_t>(i) - 1, i + 1 < n ? static_cast<int32_t>(i + 1) : -1, true};
  }
  std::priority_queue<candidate, std::vector<candidate>, std::greater<candidate>> queue;
  const auto push = [&](int32_t left) {
    const int32_t right = sym[left].next;
    if (right < 0) return;
    const merge_info m = v.merge(sym[left].id, sym[right].id);
    if (m.rank >= 0) queue.push({m.rank, left, sym[left].id, sym[right].id, m.id});
  };
  for (size_t i = 0; i + 1 < n; ++i) {
    const merge_info m = v.merge_bytes(w[i], w[i + 1]);
    if (m.rank >= 0) queue.push({m.rank, static_cast<int32_t>(i), sym[i].id, sym[i + 1].id, m.id});
  }
  while (!queue.empty()) {
    const candidate c = queue.top();
    queue.pop();
    symbol& l = sym[c.left];
    // Stale entries: a side was merged away or changed since this pair was queued.
    if (!l.alive || l.id != c.left_id || l.next < 0 || sym[l.next].id != c.right_id) continue;
    symbol& r = sym[l.next];
    l.id = c.merged;
    r.alive = false;
    l.next = r.next;
    if (r.next >= 0) sym[r.next].prev = c.left;
    if (l.prev >= 0) push(l.prev);
    push(c.left);
  }
  for (int32_t i = 0; i >= 0; i = sym[i].next) sink(sym[i].id);
}

}  // namespace detail

/// Appends the BPE tokens of one non-empty word (raw bytes) to sink(int32_t).
template <class Sink>
void bpe_word(const vocab& v, std::string_view word, Sink& sink) {
  if (word.size() == 1) {
    sink(v.byte_token(static_cast<uint8_t>(word[0])));
  } else if (word.size() <= bpe_small_word) {
    detail::bpe_small(v, word, sink);
  } else {
    detail::bpe_large(v, word, sink);
  }
}

}  // namespace plm::text
