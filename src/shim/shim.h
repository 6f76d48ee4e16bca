// torch2air C++ shim: the only C++ in torch2air.
//
// Boundary (what lives here and what does not):
//   * HERE: loading a TorchScript archive with libtorch; giving Rust the module's `forward` graph,
//     inlined, as plain JSON data (nodes, kinds, schemas, inputs/outputs, types, blocks, source
//     ranges, inlined call stacks); reading module attributes by dotted path; the traced example
//     inputs; and executing ONE node on concrete values.
//   * NOT HERE: any export policy. Which branch to take, how to unroll loops, what becomes a GE
//     node, what is a weight, how errors are worded: all of that is Rust (src/walk, src/lower).
//
// Values cross the boundary as a flat word encoding (see `enum Tag` below) plus an array of
// `at::Tensor*` (the same pointer type the `tch` crate wraps, so Rust adopts them with
// `tch::Tensor::from_ptr`). Every function catches C++ exceptions and returns non-zero with a
// malloc'd message in `*err`; nothing throws across the C ABI.
#pragma once
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// Word tags of the value encoding. Payload follows the tag.
enum T2ATag {
  T2A_NONE = 0,    // -
  T2A_BOOL = 1,    // b
  T2A_INT = 2,     // v
  T2A_DOUBLE = 3,  // f64 bits
  T2A_STR = 4,     // byte length, then bytes packed 8 per word (little-endian)
  T2A_TENSOR = 5,  // index into the tensor array
  T2A_LIST = 6,    // n, then n values
  T2A_TUPLE = 7,   // n, then n values
  T2A_DEVICE = 8,  // device type (c10::DeviceType), index
  T2A_OBJECT = 9,  // qualified class name as a STR payload
  T2A_OTHER = 10,  // description as a STR payload (futures, ...)
  T2A_DICT = 11,   // n, then n (key, value) pairs, in insertion order (shim to Rust only)
};

typedef struct T2AModule T2AModule;

// A value buffer handed to Rust. Rust frees `words` and `tensors` with t2a_free and takes
// ownership of every tensor pointer.
typedef struct {
  int64_t* words;
  size_t nwords;
  void** tensors;
  size_t ntensors;
} T2ABuf;

void t2a_free(void* p);

// Loads a TorchScript archive (torch.jit.save), puts it in eval mode, inlines `forward`.
int t2a_load(const char* path, T2AModule** out, char** err);
void t2a_module_free(T2AModule* m);

// JSON: the inlined forward graph.
int t2a_graph_json(T2AModule* m, char** json, char** err);
// JSON: class name, forward schema, parameter and buffer paths.
int t2a_module_json(T2AModule* m, char** json, char** err);
// The attribute at a dotted path below the root module ("" is the root).
int t2a_module_attr(T2AModule* m, const char* path, T2ABuf* out, char** err);
// The example inputs torch.jit.trace stored for forward (a LIST), or NONE.
int t2a_traced_inputs(T2AModule* m, T2ABuf* out, char** err);
// Runs the node numbered `node` (numbering of t2a_graph_json) on the encoded inputs; returns
// its outputs as a TUPLE.
int t2a_exec_node(T2AModule* m, int64_t node, const int64_t* words, size_t nwords,
                  void* const* tensors, size_t ntensors, T2ABuf* out, char** err);
// Runs the module's own `forward` (its weights, not a copy) on the encoded arguments (after
// self); the result is dropped. *mutated is set when forward changed the module's state (wrote
// a tensor attribute in place or reassigned an attribute), even when it then failed.
int t2a_forward(T2AModule* m, const int64_t* words, size_t nwords, void* const* tensors,
                size_t ntensors, int* mutated, char** err);

// Lazy weights (--weights lazy): whether a tensor is on the meta device (shape and dtype only);
// a meta tensor of the same size, stride and dtype (NULL and *err on failure); an id of the
// tensor's storage (two tensors share memory only if their ids are equal).
int t2a_tensor_is_meta(void* t);
void* t2a_tensor_to_meta(void* t, char** err);
uint64_t t2a_tensor_storage_id(void* t);

// Every CPU tensor allocation above `bytes` fails with a libtorch error (0: no limit). The first
// call installs the checking allocator in front of libtorch's own.
void t2a_set_tensor_budget(uint64_t bytes);

#ifdef __cplusplus
}
#endif
