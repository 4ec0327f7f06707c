#pragma once
// The datasets the host provides without plugins: fashion_mnist (from Debian's
// dataset-fashion-mnist package by default), mnist (IDX files at a path), cifar10 and cifar100 (the
// binary versions at a path) and synthetic (for tests).

namespace armor {

class Registry;

void register_builtin_datasets(Registry& registry);

}  // namespace armor
