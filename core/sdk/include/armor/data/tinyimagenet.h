#pragma once
// TinyImageNet (the official tiny-imagenet-200 folder): 200 classes of 64x64 colour JPEGs.
//   <root>/wnids.txt                          one WordNet id per line: the classes
//   <root>/train/<wnid>/images/*.JPEG         500 training images per class
//   <root>/val/images/*.JPEG                  10 000 validation images ...
//   <root>/val/val_annotations.txt            ... labelled here: file <TAB> wnid <TAB> box
// Classes are numbered in the sorted order of their ids (as torchvision's ImageFolder does); the
// official val split is armor's test split (the official test split has no labels).

#include <string>

#include <torch/types.h>

#include "armor/data/dataset.h"

namespace armor {

DatasetSplits read_tinyimagenet(const std::string& root);

// Its classes and split sizes from wnids.txt, the training folders' listings and
// val_annotations.txt, without decoding an image (the same DataErrors as read_tinyimagenet for
// what they show).
DatasetShape tinyimagenet_shape(const std::string& root);

// Decodes one image file (JPEG, PNG, BMP...) to uint8 [channels,height,width]; DataError naming
// the file when it cannot be read, cannot be decoded or has another size.
torch::Tensor decode_image(const std::string& path, int channels, int height, int width);

}  // namespace armor
