// See shim.h for the boundary. Mechanism only: no export policy.
#include "shim.h"

#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/ir/ir.h>
#include <torch/csrc/jit/passes/inliner.h>
#include <torch/csrc/jit/serialization/import.h>
#include <torch/csrc/jit/serialization/import_read.h>
#include <torch/csrc/jit/ir/graph_utils.h>
#include <torch/script.h>
#include <caffe2/serialize/inline_container.h>
#include <c10/core/CPUAllocator.h>

#include <atomic>
#include <mutex>
#include <unordered_map>

#include <cstdlib>
#include <cstring>
#include <sstream>
#include <iomanip>
#include <cmath>
#include <string>
#include <vector>

using torch::jit::Node;
using torch::jit::Value;
using c10::IValue;
using c10::TypePtr;

struct T2AModule {
  torch::jit::Module module;
  std::shared_ptr<torch::jit::Graph> graph;
  std::vector<Node*> nodes;  // numbering used by t2a_graph_json and t2a_exec_node
};

namespace {

char* dup(const std::string& s) {
  char* p = static_cast<char*>(std::malloc(s.size() + 1));
  std::memcpy(p, s.data(), s.size());
  p[s.size()] = 0;
  return p;
}

template <typename F>
int guarded(char** err, F&& f) {
  try {
    f();
    return 0;
  } catch (const c10::Error& e) {
    *err = dup(e.what_without_backtrace());
  } catch (const std::exception& e) {
    *err = dup(e.what());
  } catch (...) {
    *err = dup("unknown C++ exception");
  }
  return 1;
}

// ---- value encoding ------------------------------------------------------------------------

struct Writer {
  std::vector<int64_t> words;
  std::vector<void*> tensors;
  void str(const std::string& s) {
    words.push_back(static_cast<int64_t>(s.size()));
    for (size_t i = 0; i < s.size(); i += 8) {
      uint64_t w = 0;
      for (size_t j = 0; j < 8 && i + j < s.size(); ++j)
        w |= static_cast<uint64_t>(static_cast<unsigned char>(s[i + j])) << (8 * j);
      words.push_back(static_cast<int64_t>(w));
    }
  }
  void value(const IValue& v) {
    if (v.isNone()) {
      words.push_back(T2A_NONE);
    } else if (v.isBool()) {
      words.push_back(T2A_BOOL);
      words.push_back(v.toBool() ? 1 : 0);
    } else if (v.isInt()) {
      words.push_back(T2A_INT);
      words.push_back(v.toInt());
    } else if (v.isSymInt()) {
      words.push_back(T2A_INT);
      words.push_back(v.toSymInt().guard_int(__FILE__, __LINE__));
    } else if (v.isDouble()) {
      words.push_back(T2A_DOUBLE);
      double d = v.toDouble();
      int64_t bits;
      std::memcpy(&bits, &d, 8);
      words.push_back(bits);
    } else if (v.isString()) {
      words.push_back(T2A_STR);
      str(v.toStringRef());
    } else if (v.isTensor()) {
      const at::Tensor& t = v.toTensor();
      if (!t.defined()) {
        words.push_back(T2A_NONE);
        return;
      }
      words.push_back(T2A_TENSOR);
      words.push_back(static_cast<int64_t>(tensors.size()));
      tensors.push_back(new at::Tensor(t));
    } else if (v.isList()) {
      auto l = v.toListRef();
      words.push_back(T2A_LIST);
      words.push_back(static_cast<int64_t>(l.size()));
      for (const auto& e : l) value(e);
    } else if (v.isTuple()) {
      auto& el = v.toTupleRef().elements();
      words.push_back(T2A_TUPLE);
      words.push_back(static_cast<int64_t>(el.size()));
      for (const auto& e : el) value(e);
    } else if (v.isDevice()) {
      words.push_back(T2A_DEVICE);
      words.push_back(static_cast<int64_t>(v.toDevice().type()));
      words.push_back(static_cast<int64_t>(v.toDevice().index()));
    } else if (v.isGenericDict()) {
      auto d = v.toGenericDict();
      words.push_back(T2A_DICT);
      words.push_back(static_cast<int64_t>(d.size()));
      for (const auto& e : d) {
        value(e.key());
        value(e.value());
      }
    } else if (v.isObject()) {
      words.push_back(T2A_OBJECT);
      str(v.type()->annotation_str());
    } else {
      words.push_back(T2A_OTHER);
      str(v.tagKind() + ": " + v.type()->annotation_str());
    }
  }
  void finish(T2ABuf* out) {
    out->nwords = words.size();
    out->words = static_cast<int64_t*>(std::malloc(sizeof(int64_t) * (words.size() + 1)));
    std::memcpy(out->words, words.data(), sizeof(int64_t) * words.size());
    out->ntensors = tensors.size();
    out->tensors = static_cast<void**>(std::malloc(sizeof(void*) * (tensors.size() + 1)));
    if (!tensors.empty()) std::memcpy(out->tensors, tensors.data(), sizeof(void*) * tensors.size());
  }
};

struct Reader {
  const int64_t* w;
  size_t n;
  size_t pos = 0;
  void* const* tensors;
  size_t ntensors;
  int64_t next() {
    TORCH_CHECK(pos < n, "torch2air shim: truncated value encoding");
    return w[pos++];
  }
  std::string str() {
    size_t len = static_cast<size_t>(next());
    std::string s(len, '\0');
    for (size_t i = 0; i < len; i += 8) {
      uint64_t word = static_cast<uint64_t>(next());
      for (size_t j = 0; j < 8 && i + j < len; ++j) s[i + j] = static_cast<char>((word >> (8 * j)) & 0xff);
    }
    return s;
  }
};

TypePtr infer_elem(const std::vector<IValue>& items) {
  if (items.empty()) return c10::AnyType::get();
  auto all = [&](auto pred) {
    for (const auto& i : items)
      if (!pred(i)) return false;
    return true;
  };
  if (all([](const IValue& i) { return i.isTensor(); })) return c10::TensorType::get();
  if (all([](const IValue& i) { return i.isInt(); })) return c10::IntType::get();
  if (all([](const IValue& i) { return i.isDouble(); })) return c10::FloatType::get();
  if (all([](const IValue& i) { return i.isBool(); })) return c10::BoolType::get();
  if (all([](const IValue& i) { return i.isString(); })) return c10::StringType::get();
  if (all([](const IValue& i) { return i.isTensor() || i.isNone(); }))
    return c10::OptionalType::create(c10::TensorType::get());
  return c10::AnyType::get();
}

// Decodes one value; `ty` (the graph's static type of the slot) only decides list element
// types, so that e.g. an int[] argument arrives as a typed int list.
IValue decode(Reader& r, TypePtr ty) {
  int64_t tag = r.next();
  if (ty) {
    if (auto opt = ty->cast<c10::OptionalType>()) ty = opt->getElementType();
  }
  switch (tag) {
    case T2A_NONE:
      return IValue();
    case T2A_BOOL:
      return IValue(r.next() != 0);
    case T2A_INT:
      return IValue(r.next());
    case T2A_DOUBLE: {
      int64_t bits = r.next();
      double d;
      std::memcpy(&d, &bits, 8);
      return IValue(d);
    }
    case T2A_STR:
      return IValue(r.str());
    case T2A_TENSOR: {
      int64_t i = r.next();
      TORCH_CHECK(i >= 0 && static_cast<size_t>(i) < r.ntensors, "torch2air shim: bad tensor index");
      return IValue(*static_cast<const at::Tensor*>(r.tensors[i]));
    }
    case T2A_LIST: {
      int64_t n = r.next();
      TypePtr elem = nullptr;
      if (ty) {
        if (auto lt = ty->cast<c10::ListType>()) elem = lt->getElementType();
      }
      std::vector<IValue> items;
      for (int64_t i = 0; i < n; ++i) items.push_back(decode(r, elem));
      if (!elem || elem->kind() == c10::TypeKind::AnyType || elem->hasFreeVariables()) elem = infer_elem(items);
      c10::impl::GenericList list(elem);
      for (auto& i : items) list.push_back(std::move(i));
      return IValue(list);
    }
    case T2A_TUPLE: {
      int64_t n = r.next();
      std::vector<TypePtr> elems;
      if (ty) {
        if (auto tt = ty->cast<c10::TupleType>()) elems = tt->elements().vec();
      }
      std::vector<IValue> items;
      for (int64_t i = 0; i < n; ++i)
        items.push_back(decode(r, static_cast<size_t>(i) < elems.size() ? elems[i] : nullptr));
      return IValue(c10::ivalue::Tuple::create(std::move(items)));
    }
    case T2A_DEVICE: {
      int64_t t = r.next();
      int64_t idx = r.next();
      return IValue(c10::Device(static_cast<c10::DeviceType>(t), static_cast<c10::DeviceIndex>(idx)));
    }
    default:
      TORCH_CHECK(false, "torch2air shim: value tag ", tag, " cannot be passed to an operator");
  }
}

// ---- JSON ---------------------------------------------------------------------------------

std::string js(const std::string& s) {
  std::ostringstream o;
  o << '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"': o << "\\\""; break;
      case '\\': o << "\\\\"; break;
      case '\n': o << "\\n"; break;
      case '\r': o << "\\r"; break;
      case '\t': o << "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          o << buf;
        } else {
          o << c;
        }
    }
  }
  o << '"';
  return o.str();
}

std::string value_json(const Value* v) {
  std::ostringstream ty;  // operator<< prints complete tensor types: Float(2, 4, strides=...)
  ty << *v->type();
  return "{\"id\":" + std::to_string(v->unique()) + ",\"name\":" + js(v->debugName()) +
         ",\"type\":" + js(ty.str()) + "}";
}

void number(torch::jit::Block* b, std::vector<Node*>& out) {
  for (Node* n : b->nodes()) {
    out.push_back(n);
    for (auto* sub : n->blocks()) number(sub, out);
  }
}

std::string source_json(const torch::jit::SourceRange& serialized) {
  // A loaded archive's ranges point into its serialized code; its debug info maps them back to
  // the user's source.
  auto original = serialized.findSourceRangeThatGenerated();
  const torch::jit::SourceRange& r = original ? *original : serialized;
  std::string file, text;
  int64_t line = 0;
  if (auto flc = r.file_line_col()) {
    file = std::get<0>(*flc);
    line = static_cast<int64_t>(std::get<1>(*flc));
  }
  if (r.source()) {
    // The range's text as it is (the Rust side makes the snippet), bounded: an `if` node's
    // range spans its whole body.
    text = r.text().str();
    if (text.size() > 4096) text.resize(4096);
  }
  return "{\"file\":" + js(file) + ",\"line\":" + std::to_string(line) + ",\"text\":" + js(text) + "}";
}

void block_json(torch::jit::Block* b, const std::unordered_map<Node*, size_t>& index, std::ostringstream& o);

void node_json(Node* n, const std::unordered_map<Node*, size_t>& index, std::ostringstream& o) {
  o << "{\"index\":" << index.at(n) << ",\"kind\":" << js(n->kind().toQualString());
  if (auto schema = n->maybeSchema()) {
    const auto& on = schema->operator_name();
    o << ",\"op\":" << js(on.overload_name.empty() ? on.name : on.name + "." + on.overload_name);
    o << ",\"args\":[";
    for (size_t i = 0; i < schema->arguments().size(); ++i)
      o << (i ? "," : "") << js(schema->arguments()[i].name());
    o << "]";
  }
  if (n->kind() == c10::prim::GetAttr) o << ",\"attr\":" << js(n->s(c10::attr::name));
  o << ",\"inputs\":[";
  for (size_t i = 0; i < n->inputs().size(); ++i) o << (i ? "," : "") << n->inputs()[i]->unique();
  o << "],\"outputs\":[";
  for (size_t i = 0; i < n->outputs().size(); ++i) o << (i ? "," : "") << value_json(n->outputs()[i]);
  o << "],\"source\":" << source_json(n->sourceRange());
  o << ",\"stack\":[";
  if (auto cs = n->callstack()) {
    bool first = true;
    for (auto& entry : (*cs)->vec()) {
      auto* fn = std::get<0>(entry);
      const auto& mi = std::get<2>(entry);
      o << (first ? "" : ",") << "{\"fn\":" << js(fn ? fn->name() : "");
      if (mi) {
        o << ",\"instance\":" << js(mi->instance_name());
        o << ",\"class\":" << js(mi->class_type() ? mi->class_type()->name()->qualifiedName() : "");
      }
      o << ",\"source\":" << source_json(std::get<1>(entry)) << "}";
      first = false;
    }
  }
  o << "],\"blocks\":[";
  for (size_t i = 0; i < n->blocks().size(); ++i) {
    if (i) o << ",";
    block_json(n->blocks()[i], index, o);
  }
  o << "]}";
}

void block_json(torch::jit::Block* b, const std::unordered_map<Node*, size_t>& index, std::ostringstream& o) {
  o << "{\"inputs\":[";
  for (size_t i = 0; i < b->inputs().size(); ++i) o << (i ? "," : "") << value_json(b->inputs()[i]);
  o << "],\"outputs\":[";
  for (size_t i = 0; i < b->outputs().size(); ++i) o << (i ? "," : "") << b->outputs()[i]->unique();
  o << "],\"nodes\":[";
  bool first = true;
  for (Node* n : b->nodes()) {
    if (!first) o << ",";
    node_json(n, index, o);
    first = false;
  }
  o << "]}";
}

}  // namespace

// libtorch's deprecation warnings (a quantized model's packed weights print one on every load)
// are not torch2air's messages: dropped while loading and running nodes.
struct QuietWarnings final : c10::WarningHandler {
  void process(const c10::Warning&) override {}
};
QuietWarnings g_quiet_warnings;

// ---- tensor budget: a CPU allocator that refuses any single allocation above a byte count ----
namespace {
std::atomic<uint64_t> g_tensor_budget{0};

// While a model loads, the size of every allocation (the archive's records among them), so the
// storages the loader made can be checked against the bytes their records really hold.
// Per thread: ranks load their modules concurrently.
thread_local bool g_tracking = false;
thread_local std::unordered_map<const void*, size_t> g_tracked;

struct BudgetAllocator final : c10::Allocator {
  c10::Allocator* inner = nullptr;
  c10::DataPtr allocate(size_t n) override {
    uint64_t budget = g_tensor_budget.load(std::memory_order_relaxed);
    TORCH_CHECK(budget == 0 || n <= budget, "torch2air: a tensor of ", n,
                " bytes is over the runner's budget of ", budget,
                " bytes per tensor; fix: check the graph's shapes, or raise the budget with "
                "--max-tensor-bytes (TORCH2AIR_MAX_TENSOR_BYTES) if the graph is right");
    auto p = inner->allocate(n);
    if (g_tracking) g_tracked[p.get()] = n;
    return p;
  }
  c10::DeleterFnPtr raw_deleter() const override { return inner->raw_deleter(); }
  void copy_data(void* dest, const void* src, std::size_t count) const override {
    default_copy_data(dest, src, count);
  }
};

void install_budget_allocator() {
  static BudgetAllocator* alloc = [] {
    auto* a = new BudgetAllocator();
    a->inner = c10::GetCPUAllocator();
    c10::SetCPUAllocator(a, /*priority=*/100);
    return a;
  }();
  (void)alloc;
}

// A storage whose bytes were read from a record shorter than the storage: refuse the model
// (libtorch would hand out memory the record never filled).
void check_storage(const at::Tensor& t, const std::string& what) {
  if (!t.defined() || !t.has_storage()) return;
  const auto& st = t.storage();
  const void* p = st.data();
  if (p == nullptr) return;
  auto it = g_tracked.find(p);
  if (it != g_tracked.end() && it->second < st.nbytes()) {
    TORCH_CHECK(false, "torch2air: damaged archive: the storage record of ", what, " holds ",
                it->second, " bytes but its tensors need ", st.nbytes());
  }
}
}  // namespace

extern "C" int t2a_tensor_is_meta(void* t) {
  return static_cast<at::Tensor*>(t)->is_meta() ? 1 : 0;
}

extern "C" void* t2a_tensor_to_meta(void* t, char** err) {
  void* out = nullptr;
  guarded(err, [&] {
    const auto& x = *static_cast<at::Tensor*>(t);
    auto m = at::empty_strided(x.sizes(), x.strides(), x.options().device(c10::kMeta));
    out = new at::Tensor(std::move(m));
  });
  return out;
}

extern "C" uint64_t t2a_tensor_storage_id(void* t) {
  const auto& x = *static_cast<at::Tensor*>(t);
  if (!x.has_storage()) return 0;
  return reinterpret_cast<uint64_t>(x.storage().unsafeGetStorageImpl());
}

extern "C" void t2a_set_tensor_budget(uint64_t bytes) {
  install_budget_allocator();
  g_tensor_budget.store(bytes, std::memory_order_relaxed);
}


extern "C" {

void t2a_free(void* p) { std::free(p); }

int t2a_load(const char* path, T2AModule** out, char** err) {
  return guarded(err, [&] {
    auto m = std::make_unique<T2AModule>();
    // A traced module stores its example inputs (traced_inputs.pkl). They are read here, not by
    // import_ir_module(restore_shapes=true): that path also runs libtorch's legacy
    // PropagateInputShapes over the whole graph, which corrupts the heap on e.g. a traced
    // `chunk(3, dim=-1)`. Only the graph's input types are set from them (dtypes and shapes).
    bool traced = false;
    try {
      caffe2::serialize::PyTorchStreamReader reader(path);
      traced = reader.hasRecord("traced_inputs.pkl");
    } catch (const c10::Error&) {
      // Not a zip archive: let load() report it.
    }
    torch::jit::ExtraFilesMap extra;
    c10::WarningUtils::WarningHandlerGuard quiet(&g_quiet_warnings);
    install_budget_allocator();
    g_tracked.clear();
    g_tracking = true;
    struct StopTracking {
      ~StopTracking() {
        g_tracking = false;
        g_tracked.clear();
      }
    } stop;
    m->module = torch::jit::import_ir_module(std::make_shared<torch::jit::CompilationUnit>(), path,
                                             c10::Device(c10::kCPU), extra, true, false);
    std::vector<IValue> forward_inputs;
    if (traced) {
      caffe2::serialize::PyTorchStreamReader reader(path);
      auto dict = torch::jit::readArchiveAndTensors("traced_inputs", "", "", std::nullopt, std::nullopt,
                                                    c10::Device(c10::kCPU), reader)
                      .toGenericDict();
      // Their dtypes and shapes only: torch.jit.save keeps no values (the storages are empty).
      for (const auto& e : dict)
        if (e.key().toStringRef() == "forward") forward_inputs = e.value().toList().vec();
    }
    g_tracking = false;
    for (const auto& a : m->module.named_attributes(/*recurse=*/true)) {
      if (a.value.isTensor()) check_storage(a.value.toTensor(), "'" + a.name + "'");
    }
    m->module.eval();
    auto method = m->module.get_method("forward");
    m->graph = method.graph()->copy();
    if (!forward_inputs.empty()) {
      torch::jit::Stack stack(forward_inputs.begin(), forward_inputs.end());
      stack.insert(stack.begin(), m->module._ivalue());
      torch::jit::setInputTensorTypes(*m->graph, stack, /*complete=*/true);
    }
    torch::jit::Inline(*m->graph);
    number(m->graph->block(), m->nodes);
    // Tensor constants of the graph (constants.pkl) come from records too.
    for (Node* n : m->nodes) {
      if (n->kind() == c10::prim::Constant && n->hasAttribute(c10::attr::value) &&
          n->kindOf(c10::attr::value) == torch::jit::AttributeKind::t) {
        check_storage(n->t(c10::attr::value), "a tensor constant of forward");
      }
    }
    *out = m.release();
  });
}

void t2a_module_free(T2AModule* m) { delete m; }

int t2a_graph_json(T2AModule* m, char** json, char** err) {
  return guarded(err, [&] {
    std::unordered_map<Node*, size_t> index;
    for (size_t i = 0; i < m->nodes.size(); ++i) index[m->nodes[i]] = i;
    std::ostringstream o;
    block_json(m->graph->block(), index, o);
    *json = dup(o.str());
  });
}

int t2a_module_json(T2AModule* m, char** json, char** err) {
  return guarded(err, [&] {
    std::ostringstream o;
    o << "{\"class\":" << js(m->module.type()->name() ? m->module.type()->name()->qualifiedName() : "");
    const auto& schema = m->module.get_method("forward").function().getSchema();
    o << ",\"args\":[";
    for (size_t i = 0; i < schema.arguments().size(); ++i) {
      const auto& a = schema.arguments()[i];
      o << (i ? "," : "") << "{\"name\":" << js(a.name()) << ",\"type\":" << js(a.type()->annotation_str())
        << ",\"has_default\":" << (a.default_value() ? "true" : "false");
      // A default the Rust side can stand in with: None, a bool, an int, a float or a string.
      if (const auto& d = a.default_value()) {
        if (d->isNone()) o << ",\"default\":{\"none\":null}";
        else if (d->isBool()) o << ",\"default\":{\"bool\":" << (d->toBool() ? "true" : "false") << "}";
        else if (d->isInt()) o << ",\"default\":{\"int\":" << d->toInt() << "}";
        else if (d->isString()) o << ",\"default\":{\"str\":" << js(d->toStringRef()) << "}";
        else if (d->isDouble() && std::isfinite(d->toDouble()))
          o << ",\"default\":{\"float\":" << std::setprecision(17) << d->toDouble() << "}";
      }
      o << "}";
    }
    o << "],\"returns\":[";
    for (size_t i = 0; i < schema.returns().size(); ++i)
      o << (i ? "," : "") << js(schema.returns()[i].type()->annotation_str());
    o << "],\"parameters\":[";
    bool first = true;
    for (const auto& p : m->module.named_parameters(true)) {
      o << (first ? "" : ",") << js(p.name);
      first = false;
    }
    o << "],\"buffers\":[";
    first = true;
    for (const auto& b : m->module.named_buffers(true)) {
      o << (first ? "" : ",") << js(b.name);
      first = false;
    }
    o << "]}";
    *json = dup(o.str());
  });
}

int t2a_module_attr(T2AModule* m, const char* path, T2ABuf* out, char** err) {
  return guarded(err, [&] {
    IValue cur = m->module._ivalue();
    std::string p(path);
    size_t start = 0;
    while (start < p.size()) {
      size_t dot = p.find('.', start);
      std::string name = p.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
      TORCH_CHECK(cur.isObject(), "'", p.substr(0, start), "' is not a module, so it has no attribute '", name, "'");
      auto obj = cur.toObject();
      TORCH_CHECK(obj->type()->hasAttribute(name), "module has no attribute '", name, "'");
      cur = obj->getAttr(name);
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
    Writer w;
    w.value(cur);
    w.finish(out);
  });
}

int t2a_traced_inputs(T2AModule* m, T2ABuf* out, char** err) {
  return guarded(err, [&] {
    Writer w;
    auto all = m->module.retrieve_traced_inputs();
    auto it = all.find("forward");
    if (it == all.end()) {
      w.value(IValue());
    } else {
      w.value(IValue(it->value()));
    }
    w.finish(out);
  });
}

int t2a_exec_node(T2AModule* m, int64_t node, const int64_t* words, size_t nwords, void* const* tensors,
                  size_t ntensors, T2ABuf* out, char** err) {
  return guarded(err, [&] {
    TORCH_CHECK(node >= 0 && static_cast<size_t>(node) < m->nodes.size(), "no node ", node);
    Node* n = m->nodes[node];
    torch::NoGradGuard no_grad;
    torch::jit::Stack stack;
    if (n->kind() == c10::prim::Constant) {
      auto v = torch::jit::toIValue(n->output());
      if (v) {
        stack.push_back(*v);
      } else {
        // Function-typed constants left behind by inlining: a value, but not one to compute with.
        Writer w;
        w.words.push_back(T2A_TUPLE);
        w.words.push_back(1);
        w.words.push_back(T2A_OTHER);
        w.str("constant of type " + n->output()->type()->str());
        w.finish(out);
        return;
      }
    } else {
      Reader r{words, nwords, 0, tensors, ntensors};
      for (auto* in : n->inputs()) stack.push_back(decode(r, in->type()));
      auto op = n->getOperation();
      // Vararg ops (aten::format, ...) take their input count on top of the stack, as the
      // interpreter's OPN instruction pushes it.
      if (auto s = n->maybeSchema(); s && s->is_vararg())
        stack.push_back(IValue(static_cast<int64_t>(n->inputs().size())));
      op(stack);
    }
    Writer w;
    w.words.push_back(T2A_TUPLE);
    w.words.push_back(static_cast<int64_t>(stack.size()));
    for (const auto& v : stack) w.value(v);
    w.finish(out);
  });
}

int t2a_forward(T2AModule* m, const int64_t* words, size_t nwords, void* const* tensors,
                size_t ntensors, int* mutated, char** err) {
  *mutated = 0;
  // The module's state before: each attribute (its identity) and each tensor's version counter,
  // so a forward that writes a buffer, reassigns an attribute or fails half-way is reported.
  std::vector<std::pair<IValue, int64_t>> before;
  auto snapshot = [&] {
    std::vector<std::pair<IValue, int64_t>> s;
    for (const auto& a : m->module.named_attributes(/*recurse=*/true))
      s.emplace_back(a.value, a.value.isTensor() ? a.value.toTensor()._version() : 0);
    return s;
  };
  auto check = [&] {
    auto after = snapshot();
    bool same = after.size() == before.size();
    for (size_t i = 0; same && i < after.size(); ++i)
      same = after[i].first.isSameIdentity(before[i].first) && after[i].second == before[i].second;
    *mutated = same ? 0 : 1;
  };
  return guarded(err, [&] {
    torch::NoGradGuard no_grad;
    c10::WarningUtils::WarningHandlerGuard quiet(&g_quiet_warnings);
    Reader r{words, nwords, 0, tensors, ntensors};
    std::vector<IValue> args;
    auto ins = m->graph->inputs();
    for (size_t i = 1; i < ins.size(); ++i) args.push_back(decode(r, ins[i]->type()));
    before = snapshot();
    try {
      m->module.get_method("forward")(std::move(args));
    } catch (...) {
      check();
      throw;
    }
    check();
  });
}

}  // extern "C"

