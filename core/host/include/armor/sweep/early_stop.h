#pragma once
// Early stopping across a sweep: asynchronous successive halving (ASHA; Li et al. 2020, with the
// promotion rule of Optuna's SuccessiveHalvingPruner). Rungs fall at epochs min_epochs * eta^i. A
// run reaching a rung goes on only if its metric there is among the best floor(n / eta) of the n
// runs of its sweep that have reached that rung so far (the best one when n < eta); otherwise it
// stops training and goes straight to its final evaluation.

#include <string>
#include <vector>

namespace armor {

struct EarlyStop {
  std::string metric = "train_acc";  // an epoch metric the trainer records
  bool maximize = true;
  int eta = 3;         // reduction factor, >= 2
  int min_epochs = 1;  // the first rung

  // Whether `epoch` (from 1) is a rung.
  bool is_rung(int epoch) const;
  // Whether a run with `value` at a rung goes on, given the values of every run (itself
  // included) that reached that rung.
  bool promotes(double value, std::vector<double> rung_values) const;
  std::string describe() const;  // "asha(train_acc, max, eta=3, min_epochs=1)"
};

}  // namespace armor
