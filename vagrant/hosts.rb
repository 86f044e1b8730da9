#!/usr/bin/env ruby
# Writes the meshlab hosts file for the Vagrant lab on stdout, from the same machine list the
# Vagrantfile uses (machines.rb). Host keys are checked against known_hosts next to the hosts
# file, which known-hosts.sh fills from the machines themselves through `vagrant ssh`.
#
#   ruby hosts.rb > hosts.yaml
require_relative "machines"

lab = ENV.fetch("MESHLAB_LAB", "vagrant")
puts <<~YAML
  # meshlab hosts file for the Vagrant lab (written by vagrant/hosts.rb; re-run it after changing
  # the MESHLAB_* settings). meshlab up --hosts hosts.yaml builds the lab.
  apiVersion: meshlab.dev/v1alpha1
  kind: Lab
  name: #{lab}
  components:
    mesh: true
    addons: [zipkin, prometheus, grafana]
    bookinfo: true
  ssh:
    user: vagrant
    keyPath: #{MeshlabLab.private_key}
    agent: false
    knownHosts: known_hosts
    sudo: auto
  hosts:
YAML
MeshlabLab.machines.each do |m|
  puts "  - {name: #{m.name}, address: #{m.ip}, role: #{m.role}, labels: {meshlab.dev/lab: #{lab}}}"
end
