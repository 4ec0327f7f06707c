// armor_torch_floor: a program that only links LibTorch and asks it one thing. Its start-up time is
// the floor under `armor`'s (loading LibTorch and the libraries it depends on, and LibTorch's
// operator registration); armor_bench reports armor's start-up against it.
#include <torch/torch.h>

int main() { return torch::get_num_threads() > 0 ? 0 : 1; }
