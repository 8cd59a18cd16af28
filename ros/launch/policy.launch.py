"""Launches the o2o policy node.

    ros2 launch o2o_policy policy.launch.py params_file:=/path/to/policy.yaml
    ros2 launch ros/launch/policy.launch.py            # straight from an o2o checkout
    ros2 launch ros/launch/policy.launch.py managed:=true   # a lifecycle node (ros/managed.ts)

The node is TypeScript run by tsx from the o2o checkout (O2O_ROOT, default: the checkout this
file lives in). Set it up once on the robot: `npm ci` in the checkout, then, with ROS 2 sourced,
`cd ros && npm install` (rclnodejs).
"""
import os

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess
from launch.substitutions import LaunchConfiguration, PythonExpression


def _default_root() -> str:
    here = os.path.dirname(os.path.realpath(__file__))
    return os.environ.get('O2O_ROOT', os.path.abspath(os.path.join(here, '..', '..')))


def generate_launch_description() -> LaunchDescription:
    root = _default_root()
    return LaunchDescription([
        DeclareLaunchArgument('o2o_root', default_value=root, description='o2o checkout (holds ros/main.ts)'),
        DeclareLaunchArgument('params_file', default_value=os.path.join(root, 'ros', 'config', 'policy.yaml'),
                              description='ROS 2 params YAML for the node'),
        DeclareLaunchArgument('node_name', default_value='o2o_policy'),
        DeclareLaunchArgument('managed', default_value='false',
                              description='true: a lifecycle node, unconfigured until /<node_name>/change_state says otherwise'),
        # One process (node with tsx's loader), not `npx tsx`: launch's SIGINT must reach the node's
        # own handler (npx does not forward it, and the node outlived a stopped launch).
        ExecuteProcess(
            cmd=['node', '--import', 'tsx', [LaunchConfiguration('o2o_root'), '/ros/main.ts'],
                 PythonExpression(["'--managed' if '", LaunchConfiguration('managed'), "'.lower() == 'true' else '--unmanaged'"]),
                 '--ros-args', '-r', ['__node:=', LaunchConfiguration('node_name')],
                 '--params-file', LaunchConfiguration('params_file')],
            cwd=LaunchConfiguration('o2o_root'),
            output='screen',
            emulate_tty=True,
        ),
    ])
