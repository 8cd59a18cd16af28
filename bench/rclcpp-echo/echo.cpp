// The C++ reference for bench/ros.ts: Float32MultiArray round trips over DDS with rclcpp on both sides
// (reliable, depth 10, as the bench's other rows), to tell the host's floor from our node's cost.
//   echo pong <in> <out>            republishes every message from <in> on <out>
//   echo ping <in> <out> <hz> <n>   publishes n messages at hz on <in>, times each one's return on <out>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <thread>
#include <vector>
#include "rclcpp/rclcpp.hpp"
#include "std_msgs/msg/float32_multi_array.hpp"
using Msg = std_msgs::msg::Float32MultiArray;
using clk = std::chrono::steady_clock;
int main(int argc, char** argv) {
  rclcpp::init(argc, argv);
  std::string mode = argv[1], in = argv[2], out = argv[3];
  auto node = std::make_shared<rclcpp::Node>(mode + "_" + std::to_string(getpid()));
  auto qos = rclcpp::QoS(10).reliable();
  if (mode == "pong") {
    auto pub = node->create_publisher<Msg>(out, qos);
    auto sub = node->create_subscription<Msg>(in, qos, [pub](Msg::UniquePtr m) { pub->publish(std::move(m)); });
    std::printf("echo ready\n"); std::fflush(stdout);
    rclcpp::spin(node);
    return 0;
  }
  double hz = std::atof(argv[4]); int n = std::atoi(argv[5]);
  std::map<int, clk::time_point> sent; std::vector<double> lat; std::mutex mu;
  auto pub = node->create_publisher<Msg>(in, qos);
  auto sub = node->create_subscription<Msg>(out, qos, [&](Msg::UniquePtr m) {
    auto now = clk::now(); std::lock_guard<std::mutex> g(mu); int k = (int)m->data[0];
    auto it = sent.find(k); if (it != sent.end()) { lat.push_back(std::chrono::duration<double, std::milli>(now - it->second).count()); sent.erase(it); }
  });
  rclcpp::executors::SingleThreadedExecutor ex; ex.add_node(node);
  std::thread spinner([&] { ex.spin(); });
  Msg m; m.data = {0, 0, 0};
  for (int i = 0; i < 50; i++) { m.data[0] = 1e6 + i; pub->publish(m); std::this_thread::sleep_for(std::chrono::milliseconds(20)); }
  auto t0 = clk::now(); auto period = std::chrono::duration<double>(1.0 / hz);
  for (int k = 0; k < n; k++) {
    auto due = t0 + std::chrono::duration_cast<clk::duration>(period * k);
    std::this_thread::sleep_until(due);
    { std::lock_guard<std::mutex> g(mu); sent[k] = clk::now(); }
    m.data[0] = k; pub->publish(m);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ex.cancel(); spinner.join();
  std::sort(lat.begin(), lat.end());
  auto pct = [&](double p) { return lat.empty() ? -1.0 : lat[std::min(lat.size() - 1, (size_t)(p * lat.size()))]; };
  std::printf("%g Hz: %zu/%d  p50 %.3f  p99 %.3f  p99.9 %.3f ms\n", hz, lat.size(), n, pct(0.5), pct(0.99), pct(0.999));
  rclcpp::shutdown();
}
