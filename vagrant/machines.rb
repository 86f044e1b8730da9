# The machines of meshlab's Vagrant lab: one control plane and two workers on a private network.
# The Vagrantfile builds them and hosts.rb writes the hosts file that describes them, so the two
# can never disagree. Every setting can be changed from the environment:
#
#   MESHLAB_SUBNET   first three octets of the private network   (default 192.168.56, VirtualBox's
#                    host-only range; libvirt creates the network itself)
#   MESHLAB_WORKERS  number of workers                           (default 2)
#   MESHLAB_CPUS     CPUs per machine                            (default 2: kubeadm's minimum)
#   MESHLAB_MEMORY   MiB per machine                             (default 2048)
#   MESHLAB_KEY      the operator's private key; KEY.pub is authorised on every machine
#                    (default ~/.ssh/id_ed25519, else ~/.ssh/id_rsa)
#   MESHLAB_BOX      the box (default bento/ubuntu-24.04 on VirtualBox,
#                    cloud-image/ubuntu-24.04 on libvirt)
module MeshlabLab
  Machine = Struct.new(:name, :ip, :role, keyword_init: true)

  def self.subnet
    ENV.fetch("MESHLAB_SUBNET", "192.168.56")
  end

  def self.machines
    workers = Integer(ENV.fetch("MESHLAB_WORKERS", "2"))
    list = [Machine.new(name: "cp1", ip: "#{subnet}.10", role: "control-plane")]
    (1..workers).each do |i|
      list << Machine.new(name: "worker#{i}", ip: "#{subnet}.#{10 + i}", role: "worker")
    end
    list
  end

  def self.cpus
    Integer(ENV.fetch("MESHLAB_CPUS", "2"))
  end

  def self.memory
    Integer(ENV.fetch("MESHLAB_MEMORY", "2048"))
  end

  # The operator's private key: the hosts file points at it and its .pub half is authorised.
  def self.private_key
    return File.expand_path(ENV["MESHLAB_KEY"]) if ENV["MESHLAB_KEY"]
    %w[id_ed25519 id_rsa].map { |n| File.expand_path("~/.ssh/#{n}") }.find { |p| File.exist?("#{p}.pub") } ||
      File.expand_path("~/.ssh/id_ed25519")
  end

  def self.public_key
    path = "#{private_key}.pub"
    File.exist?(path) ? File.read(path).strip : nil
  end
end
