// Uses the installed headers and library the way an outside program would.
#include <baton/baton.hpp>

#include <iostream>

int main() {
  baton::Tensor t = baton::Tensor::ones({2});
  t += baton::Tensor::full({2}, 2.0);
  std::cout << "consumer ok: " << t << "\n";
  return t.item(0) == 3.0 ? 0 : 1;
}
